-- latency: submit (queued_at) -> sent_at and submit -> delivered_at in microseconds, per send
-- day x destination country x operator: nearest-rank percentiles on the exact sorted values,
-- NULL when a group has no sample (p-th percentile of n samples = sorted[ceil(p * n / 100)],
-- 1-based, in integer arithmetic; the same as latency_groups, migration 0013).
-- Closed, fresh days: latency_rollup, whose rows hold the percentiles of one subaccount or of
-- all of them (percentiles of different subaccounts cannot be merged). The other days: the
-- union of their hours' sorted samples (latency_arrays: sealed hours from
-- latency_rollup_hourly, the rest from messages_by_day), of the filtered subaccount or of all.
SELECT day, country, operator, sent_samples, sent_p50, sent_p95, sent_p99,
       delivered_samples, delivered_p50, delivered_p95, delivered_p99
FROM
(
    SELECT day, country, operator, sent_samples, sent_p50, sent_p95, sent_p99,
           delivered_samples, delivered_p50, delivered_p95, delivered_p99
    FROM latency_rollup FINAL
    WHERE all_subaccounts = ({subaccount:String} = '')
      AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
      AND day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
      AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
      AND day BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({country:String} = '' OR country = {country:String})
      AND ({operator:String} = '' OR operator = {operator:String})
    UNION ALL
    SELECT
        day, country, operator,
        toInt64(length(sent)) AS sent_samples,
        if(sent_samples = 0, NULL, sent[intDiv(50 * sent_samples + 99, 100)]) AS sent_p50,
        if(sent_samples = 0, NULL, sent[intDiv(95 * sent_samples + 99, 100)]) AS sent_p95,
        if(sent_samples = 0, NULL, sent[intDiv(99 * sent_samples + 99, 100)]) AS sent_p99,
        toInt64(length(delivered)) AS delivered_samples,
        if(delivered_samples = 0, NULL,
           delivered[intDiv(50 * delivered_samples + 99, 100)]) AS delivered_p50,
        if(delivered_samples = 0, NULL,
           delivered[intDiv(95 * delivered_samples + 99, 100)]) AS delivered_p95,
        if(delivered_samples = 0, NULL,
           delivered[intDiv(99 * delivered_samples + 99, 100)]) AS delivered_p99
    FROM
    (
        SELECT day, country, operator,
               arraySort(groupArrayArray(sent)) AS sent,
               arraySort(groupArrayArray(delivered)) AS delivered
        FROM latency_arrays
        WHERE (day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
               OR day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1))
          AND day BETWEEN {date_from:Date} AND {date_to:Date}
          AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
          AND ({country:String} = '' OR country = {country:String})
          AND ({operator:String} = '' OR operator = {operator:String})
        GROUP BY day, country, operator
    )
)
ORDER BY day, country, operator
