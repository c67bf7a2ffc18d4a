-- logs: the message log (outbound and inbound), oldest first.
-- Top-N in two steps: the first {limit} (time, umid) keys from the few columns they need,
-- then the full rows of only those umids (a primary-key lookup), instead of sorting every
-- column of every message.
WITH top AS
(
    SELECT umid AS top_umid
    FROM messages FINAL
    WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({operator:String} = '' OR operator = {operator:String})
    ORDER BY coalesce(queued_at, rejected_at, first_event_at), toString(umid)
    LIMIT {limit:UInt64}
)
SELECT
    coalesce(queued_at, rejected_at, first_event_at) AS at,
    direction,
    subaccount_id,
    toString(m.umid) AS umid,
    destination,
    source,
    origin,
    country,
    operator,
    cost,
    currency,
    state
FROM messages AS m FINAL
WHERE m.umid IN (SELECT top_umid FROM top)
ORDER BY at, umid
LIMIT {limit:UInt64}
