-- replies: inbound MOs matched to the outbound they answer, per subaccount x sender id.
-- Match (the worker's rule, streams/replies.py): MO.source = outbound destination and
-- MO.destination = outbound source (numbers without a leading '+'), the most recent such
-- outbound submitted at or before the MO (ties: the larger umid), answered when
-- received_at - submitted_at <= the reply window ({window_us} microseconds).
-- Replied = outbound messages the worker marked replied; Replies = matched MOs; Opt-outs =
-- matched MOs whose text without whitespace, upper-cased, is a stop keyword (the sink stores
-- that keyword in messages.opt_out: the text itself is not stored by default).
-- Filters apply to the outbound message (day, subaccount, country, operator).
-- The join hashes the inbound side (few) and streams the outbound one (many); the final
-- LEFT JOIN hashes the replied outbounds only.
WITH
outbound AS
(
    SELECT
        umid, day, subaccount_id, source, country, operator, replied,
        assumeNotNull(queued_at) AS submitted_at,
        concat(replaceRegexpOne(trimBoth(destination), '^\\+', ''), '|',
               replaceRegexpOne(trimBoth(source), '^\\+', '')) AS pair
    FROM messages FINAL
    WHERE direction = 'OUTBOUND' AND counted AND queued_at IS NOT NULL
),
mo AS
(
    SELECT
        umid, opt_out, assumeNotNull(first_event_at) AS received_at,
        concat(replaceRegexpOne(trimBoth(source), '^\\+', ''), '|',
               replaceRegexpOne(trimBoth(destination), '^\\+', '')) AS pair
    FROM messages FINAL
    WHERE direction = 'INBOUND' AND has_request AND first_event_at IS NOT NULL
),
matched AS
(
    SELECT
        mo.umid AS mo_umid,
        argMax(o.umid, (o.submitted_at, toString(o.umid))) AS outbound_umid,
        max(o.submitted_at) AS submitted_at,
        any(mo.received_at) AS received_at,
        any(mo.opt_out) AS opt_out
    FROM outbound AS o
    INNER JOIN mo ON mo.pair = o.pair
    WHERE o.submitted_at <= mo.received_at
    GROUP BY mo.umid
    HAVING toUnixTimestamp64Micro(received_at) - toUnixTimestamp64Micro(submitted_at)
           <= {window_us:Int64}
),
per_outbound AS
(
    SELECT
        outbound_umid,
        count() AS replies,
        countIf(opt_out != '') AS opt_outs
    FROM matched
    GROUP BY outbound_umid
)
SELECT
    o.subaccount_id AS subaccount_id,
    o.source AS source,
    count() AS outbound,
    countIf(o.replied) AS replied,
    sum(r.replies) AS replies,
    sum(r.opt_outs) AS opt_outs
FROM outbound AS o
LEFT JOIN per_outbound AS r ON r.outbound_umid = o.umid
WHERE o.day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR o.subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR o.country = {country:String})
  AND ({operator:String} = '' OR o.operator = {operator:String})
GROUP BY subaccount_id, source
ORDER BY subaccount_id, source
