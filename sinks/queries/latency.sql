-- latency: submit (queued_at) -> sent_at and submit -> delivered_at in microseconds, per send
-- day x destination country x operator: nearest-rank percentiles on the exact sorted values
-- (the latency_groups view of migration 0009), NULL when a group has no sample. Closed days
-- come from latency_rollup, open days from messages_by_day (latency_totals). Percentiles of
-- different subaccounts cannot be merged: without a subaccount filter the groups over all
-- subaccounts are read, with one that subaccount's.
SELECT day, country, operator, sent_samples, sent_p50, sent_p95, sent_p99,
       delivered_samples, delivered_p50, delivered_p95, delivered_p99
FROM latency_totals
WHERE all_subaccounts = ({subaccount:String} = '')
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
ORDER BY day, country, operator
