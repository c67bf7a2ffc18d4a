-- smsflow analytics schema, version 12: the flags report from roll-ups (issue 18).
-- `flags` read messages_by_day FINAL whole (every counted message, 0.2 s at 10M messages).
-- The messages per flag now join the report layout's family (id 2): flag_rollup for the
-- closed days, flag_rollup_hourly for the sealed hours of the open days, read through
-- flag_totals like message_totals (sinks/README.md "Sealed hours"). A flag is not a group key
-- of message_groups: that made every message_totals reader ~0.1 s slower at 10M.
-- The family already has closed days and sealed hours: this version fills the new roll-ups for
-- them from the source (the sinks are stopped while migrations run).
CREATE VIEW IF NOT EXISTS flag_groups_hourly AS
SELECT
    day, hour, subaccount_id, country, operator, flag,
    toInt64(count()) AS messages
FROM messages_by_day FINAL
ARRAY JOIN flags AS flag
GROUP BY day, hour, subaccount_id, country, operator, flag
;
CREATE VIEW IF NOT EXISTS flag_groups AS
SELECT
    day, subaccount_id, country, operator, flag,
    sum(messages) AS messages
FROM flag_groups_hourly
GROUP BY day, subaccount_id, country, operator, flag
;
CREATE TABLE IF NOT EXISTS flag_rollup
(
    day            Date,
    subaccount_id  String,
    country        LowCardinality(String),
    operator       LowCardinality(String),
    flag           LowCardinality(String),
    messages       Int64,
    computed_at    DateTime64(6, 'UTC'),
    is_deleted     UInt8
)
ENGINE = ReplacingMergeTree(computed_at, is_deleted)
PARTITION BY toYYYYMM(day)
ORDER BY (day, subaccount_id, country, operator, flag)
;
CREATE TABLE IF NOT EXISTS flag_rollup_hourly
(
    day            Date,
    hour           UInt8,
    subaccount_id  String,
    country        LowCardinality(String),
    operator       LowCardinality(String),
    flag           LowCardinality(String),
    messages       Int64,
    computed_at    DateTime64(6, 'UTC'),
    is_deleted     UInt8
)
ENGINE = ReplacingMergeTree(computed_at, is_deleted)
PARTITION BY day
ORDER BY (day, hour, subaccount_id, country, operator, flag)
;
INSERT INTO flag_rollup
SELECT *, now64(6), 0
FROM flag_groups
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
;
INSERT INTO flag_rollup_hourly
SELECT *, now64(6), 0
FROM flag_groups_hourly
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND (day < toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
       OR day = toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
          AND hour <= toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2)))
;
CREATE VIEW IF NOT EXISTS flag_totals AS
SELECT
    day, subaccount_id, country, operator, flag, messages
FROM flag_rollup FINAL
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, country, operator, flag, messages
FROM flag_rollup_hourly FINAL
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
  AND (day < toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
       OR day = toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
          AND hour <= toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2)))
  AND (day, hour) NOT IN (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, country, operator, flag, messages
FROM flag_groups
WHERE day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, country, operator, flag, messages
FROM flag_groups_hourly
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
  AND (day >= toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
       AND (day > toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
            OR hour > toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2)))
       OR (day, hour) IN (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1))
