-- replies: inbound MOs matched to the outbound they answer, per subaccount x sender id.
-- The worker does the matching (streams/replies.py: an MO answers the most recent outbound of
-- its number pair submitted at or before it, within the reply window) and stores the result
-- on each outbound message: replied, reply_count (MOs answering it) and opt_out_count (of
-- those, MOs whose text without whitespace, upper-cased, is a stop keyword). The report sums
-- them over the counted, submitted outbound messages (message_totals, see errors.sql).
-- Replied = outbound messages the worker marked replied; Replies = matched MOs; Opt-outs =
-- matched MOs that are stop keywords.
-- Filters apply to the outbound message (day, subaccount, country, operator).
SELECT
    subaccount_id,
    sender AS source,
    sum(messages) AS outbound,
    sum(replied) AS replied,
    sum(replies) AS replies,
    sum(opt_outs) AS opt_outs
FROM message_totals
WHERE direction = 'OUTBOUND' AND queued
  AND day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
GROUP BY subaccount_id, source
ORDER BY subaccount_id, source
