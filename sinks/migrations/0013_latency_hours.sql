-- smsflow analytics schema, version 13: the latency report's sealed hours (issue 18; exactness:
-- sinks/README.md "Sealed hours").
-- Percentiles do not add up over hours, so version 11 left latency_totals reading the open
-- days whole from messages_by_day (0.15 s of the report's 0.27 s at 10M messages). A
-- percentile is a function of the multiset of samples, and the multisets do add up: a sealed
-- hour now keeps its samples, sorted, per subaccount x country x operator
-- (latency_rollup_hourly, one row per group and hour, in the report layout's family, id 2),
-- and latency_groups takes a day's percentiles from the union of its hours' sample arrays:
-- sealed, fresh hours of the days after the family's watermark from the roll-up, every
-- other hour from the source (latency_arrays). The scope over all subaccounts is the union
-- of the subaccounts' arrays, so the roll-up keeps no second copy.
-- The report reads latency_rollup and latency_arrays itself (sinks/queries/latency.sql: one
-- scope, the filtered subaccount's or all, instead of both; the view expansion alone cost more
-- than the report's reading), so latency_totals goes.
-- The family already has sealed hours: this version fills the new roll-up for them from the
-- source (the sinks are stopped while migrations run).
DROP VIEW IF EXISTS latency_totals
;
DROP VIEW IF EXISTS latency_groups
;
DROP VIEW IF EXISTS latency_samples
;
-- Per counted, submitted outbound message with a stage time: submit (queued_at) -> sent_at and
-- submit -> delivered_at in microseconds (NULL when that stage has no time), with the hour.
CREATE VIEW IF NOT EXISTS latency_samples AS
SELECT
    day, hour, subaccount_id, country, operator,
    if(sent_at IS NULL, NULL, toUnixTimestamp64Micro(assumeNotNull(sent_at))
        - toUnixTimestamp64Micro(assumeNotNull(queued_at))) AS sent_us,
    if(delivered_at IS NULL, NULL, toUnixTimestamp64Micro(assumeNotNull(delivered_at))
        - toUnixTimestamp64Micro(assumeNotNull(queued_at))) AS delivered_us
FROM messages_by_day FINAL
WHERE direction = 'OUTBOUND' AND queued_at IS NOT NULL
  AND (sent_at IS NOT NULL OR delivered_at IS NOT NULL)
;
-- The sorted samples of one hour x subaccount x country x operator, from the source
-- (groupArray skips NULLs).
CREATE VIEW IF NOT EXISTS latency_arrays_hourly AS
SELECT
    day, hour, subaccount_id, country, operator,
    arraySort(groupArray(sent_us)) AS sent,
    arraySort(groupArray(delivered_us)) AS delivered
FROM latency_samples
GROUP BY day, hour, subaccount_id, country, operator
;
-- One partition per day, dropped once the day is closed (sinks/rollup.py).
CREATE TABLE IF NOT EXISTS latency_rollup_hourly
(
    day            Date,
    hour           UInt8,
    subaccount_id  String,
    country        LowCardinality(String),
    operator       LowCardinality(String),
    sent           Array(Int64),
    delivered      Array(Int64),
    computed_at    DateTime64(6, 'UTC'),
    is_deleted     UInt8
)
ENGINE = ReplacingMergeTree(computed_at, is_deleted)
PARTITION BY day
ORDER BY (day, hour, subaccount_id, country, operator)
;
INSERT INTO latency_rollup_hourly
SELECT *, now64(6), 0
FROM latency_arrays_hourly
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND (day < toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
       OR day = toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
          AND hour <= toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2)))
;
-- Every (day, hour) in exactly one part: the sealed, fresh hours of the fresh days after the
-- watermark from the roll-up; every other hour (closed or stale days, the newest hours, stale
-- hours) from the source.
CREATE VIEW IF NOT EXISTS latency_arrays AS
SELECT day, hour, subaccount_id, country, operator, sent, delivered
FROM latency_rollup_hourly FINAL
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
  AND (day < toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
       OR day = toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
          AND hour <= toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2)))
  AND (day, hour) NOT IN (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1)
UNION ALL
SELECT day, hour, subaccount_id, country, operator, sent, delivered
FROM latency_arrays_hourly
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
   OR day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
   OR day >= toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
      AND (day > toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
           OR hour > toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2)))
   OR (day, hour) IN (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1)
;
-- The latency percentiles per day x country x operator, once per subaccount and once over all
-- of them (all_subaccounts, subaccount_id ''): percentiles of different subaccounts cannot be
-- merged, so the day roll-up keeps both.
-- Nearest-rank on the exact sorted values: p-th percentile of n samples =
-- sorted[ceil(p * n / 100)] (1-based), in integer arithmetic; NULL without samples.
CREATE VIEW IF NOT EXISTS latency_groups AS
SELECT
    day, all_subaccounts, subaccount_id, country, operator,
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
    SELECT day, false AS all_subaccounts, subaccount_id, country, operator,
           arraySort(groupArrayArray(sent)) AS sent,
           arraySort(groupArrayArray(delivered)) AS delivered
    FROM latency_arrays
    GROUP BY day, subaccount_id, country, operator
    UNION ALL
    SELECT day, true AS all_subaccounts, '' AS subaccount_id, country, operator,
           arraySort(groupArrayArray(sent)) AS sent,
           arraySort(groupArrayArray(delivered)) AS delivered
    FROM latency_arrays
    GROUP BY day, country, operator
)
;
