-- replies: inbound MOs matched to the outbound they answer, per subaccount x sender id.
-- The worker does the matching (streams/replies.py: an MO answers the most recent outbound of
-- its number pair submitted at or before it, within the reply window) and stores the result
-- on each outbound message: replied, reply_count (MOs answering it) and opt_out_count (of
-- those, MOs whose text without whitespace, upper-cased, is a stop keyword). The report sums
-- them over the counted outbound rows: no join.
-- Replied = outbound messages the worker marked replied; Replies = matched MOs; Opt-outs =
-- matched MOs that are stop keywords.
-- Filters apply to the outbound message (day, subaccount, country, operator).
SELECT
    subaccount_id,
    source,
    count() AS outbound,
    countIf(replied) AS replied,
    sum(reply_count) AS replies,
    sum(opt_out_count) AS opt_outs
FROM messages FINAL
WHERE direction = 'OUTBOUND' AND counted AND queued_at IS NOT NULL
  AND day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
GROUP BY subaccount_id, source
ORDER BY subaccount_id, source
