-- latency: submit (queued_at) -> sent_at and submit -> delivered_at in microseconds, per send
-- day x destination country x operator. Percentiles are nearest-rank on the exact sorted values:
-- p-th percentile of n samples = sorted[ceil(p * n / 100)] (1-based), in integer arithmetic
-- (intDiv(p * n + 99, 100)), so no float ever touches the rank. NULL when a group has no sample.
-- The sorted sample arrays stay inside the subquery: only the percentiles leave the engine
-- (returning the arrays cost ~115 MB of JSON at 10M messages).
SELECT day, country, operator, sent_samples, sent_p50, sent_p95, sent_p99,
       delivered_samples, delivered_p50, delivered_p95, delivered_p99
FROM (
SELECT
    day,
    country,
    operator,
    arraySort(groupArrayIf(
        toUnixTimestamp64Micro(assumeNotNull(sent_at))
            - toUnixTimestamp64Micro(assumeNotNull(queued_at)),
        sent_at IS NOT NULL)) AS sent_us,
    arraySort(groupArrayIf(
        toUnixTimestamp64Micro(assumeNotNull(delivered_at))
            - toUnixTimestamp64Micro(assumeNotNull(queued_at)),
        delivered_at IS NOT NULL)) AS delivered_us,
    length(sent_us) AS sent_samples,
    if(sent_samples = 0, NULL, sent_us[intDiv(50 * sent_samples + 99, 100)]) AS sent_p50,
    if(sent_samples = 0, NULL, sent_us[intDiv(95 * sent_samples + 99, 100)]) AS sent_p95,
    if(sent_samples = 0, NULL, sent_us[intDiv(99 * sent_samples + 99, 100)]) AS sent_p99,
    length(delivered_us) AS delivered_samples,
    if(delivered_samples = 0, NULL,
       delivered_us[intDiv(50 * delivered_samples + 99, 100)]) AS delivered_p50,
    if(delivered_samples = 0, NULL,
       delivered_us[intDiv(95 * delivered_samples + 99, 100)]) AS delivered_p95,
    if(delivered_samples = 0, NULL,
       delivered_us[intDiv(99 * delivered_samples + 99, 100)]) AS delivered_p99
FROM messages FINAL
WHERE direction = 'OUTBOUND' AND counted AND queued_at IS NOT NULL
  AND (sent_at IS NOT NULL OR delivered_at IS NOT NULL)
  AND day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
GROUP BY day, country, operator
)
ORDER BY day, country, operator
