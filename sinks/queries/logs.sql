-- logs: the message log (outbound and inbound), oldest first.
SELECT
    coalesce(queued_at, rejected_at, first_event_at) AS at,
    direction,
    subaccount_id,
    toString(umid) AS umid,
    destination,
    source,
    origin,
    country,
    operator,
    cost,
    currency,
    state
FROM messages FINAL
WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
ORDER BY at, umid
LIMIT {limit:UInt64}
