-- smsflow analytics schema, version 9: the per-message reporting layout (issue 18; exactness:
-- sinks/README.md "Report layout").
-- `messages` is ordered by umid (the versions of a message collapse there, and umid lookups
-- stay primary-key reads), so no day or subaccount filter could prune it. The reports that
-- read every message now read:
-- * messages_by_day: the counted versions (a contribution, so day and subaccount are fixed)
--   with the columns the reports use, partitioned by month and ordered by day x subaccount;
-- * messages_uncounted: the versions without a contribution (orphan receipts, events ahead of
--   their request), for the message log; when such a message gets its contribution, a
--   tombstone (is_deleted = 1) of the counted version removes it from FINAL reads;
-- * message_rollup: closed days of message_groups pre-aggregated, recomputed whole by the sink
--   like daily_rollup (sinks/rollup.py), read through message_totals;
-- * latency_rollup / campaign_rollup: the same for the latency percentiles and the campaigns.
-- Both copies are fed by materialized views on inserts into `messages` (the block inserted,
-- never a scan); they are ReplacingMergeTree(version) like `messages`, so a replayed or
-- re-cut batch collapses the same way.
CREATE TABLE IF NOT EXISTS messages_by_day
(
    umid            UUID,
    version         UInt64,
    direction       LowCardinality(String),
    day             Date,
    subaccount_id   String,
    source          String,
    country         LowCardinality(String),
    operator        LowCardinality(String),
    currency        LowCardinality(String),
    verification    Bool,
    state           LowCardinality(String),
    error_code      Nullable(Int32),
    error_message   String,
    cost            Decimal(18, 8),
    queued_at       Nullable(DateTime64(6, 'UTC')),
    rejected_at     Nullable(DateTime64(6, 'UTC')),
    sent_at         Nullable(DateTime64(6, 'UTC')),
    delivered_at    Nullable(DateTime64(6, 'UTC')),
    first_event_at  Nullable(DateTime64(6, 'UTC')),
    converted       Bool,
    replied         Bool,
    reply_count     UInt32,
    opt_out_count   UInt32,
    flags           Array(LowCardinality(String))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, subaccount_id, umid)
;
CREATE TABLE IF NOT EXISTS messages_uncounted
(
    umid            UUID,
    version         UInt64,
    is_deleted      UInt8,
    direction       LowCardinality(String),
    day             Date,
    subaccount_id   String,
    country         LowCardinality(String),
    operator        LowCardinality(String),
    queued_at       Nullable(DateTime64(6, 'UTC')),
    rejected_at     Nullable(DateTime64(6, 'UTC')),
    first_event_at  Nullable(DateTime64(6, 'UTC'))
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY umid
;
CREATE MATERIALIZED VIEW IF NOT EXISTS messages_by_day_feed TO messages_by_day AS
SELECT
    umid, version, direction, day, subaccount_id, source, country, operator, currency,
    verification, state, error_code, error_message, cost, queued_at, rejected_at, sent_at,
    delivered_at, first_event_at, converted, replied, reply_count, opt_out_count, flags
FROM messages
WHERE counted
;
-- An uncounted version, or the counted version of a umid that had one (its tombstone).
CREATE MATERIALIZED VIEW IF NOT EXISTS messages_uncounted_feed TO messages_uncounted AS
SELECT
    umid, version, toUInt8(counted) AS is_deleted, direction, day, subaccount_id, country,
    operator, queued_at, rejected_at, first_event_at
FROM messages
WHERE NOT counted OR umid IN (SELECT umid FROM messages_uncounted)
;
-- What was stored before this migration (rows inserted meanwhile through the feeds collapse
-- with these: same umid and version).
INSERT INTO messages_by_day
SELECT
    umid, version, direction, day, subaccount_id, source, country, operator, currency,
    verification, state, error_code, error_message, cost, queued_at, rejected_at, sent_at,
    delivered_at, first_event_at, converted, replied, reply_count, opt_out_count, flags
FROM messages FINAL
WHERE counted
;
INSERT INTO messages_uncounted
SELECT
    umid, version, 0, direction, day, subaccount_id, country, operator, queued_at, rejected_at,
    first_event_at
FROM messages FINAL
WHERE NOT counted
;
-- Per day x subaccount x country x operator x currency x outcome: what errors, conversions,
-- pending, replies and the message log's day cut need. `sender` is the outbound sender id
-- (replies groups by it); '' for inbound rows, whose sources are phone numbers.
CREATE VIEW IF NOT EXISTS message_groups AS
SELECT
    day, subaccount_id, country, operator, currency, direction,
    if(direction = 'OUTBOUND', source, '') AS sender,
    state, error_code, error_message, verification,
    queued_at IS NOT NULL AS queued,
    toInt64(count()) AS messages,
    toInt64(countIf(converted)) AS converted,
    sum(cost) AS cost,
    toInt64(countIf(replied)) AS replied,
    toInt64(sum(reply_count)) AS replies,
    toInt64(sum(opt_out_count)) AS opt_outs,
    min(coalesce(queued_at, rejected_at, first_event_at)) AS first_at,
    max(coalesce(queued_at, rejected_at, first_event_at)) AS last_at,
    maxIf(queued_at, state = 'sent') AS last_pending_at
FROM messages_by_day FINAL
GROUP BY day, subaccount_id, country, operator, currency, direction, sender, state, error_code,
    error_message, verification, queued
;
-- A recompute first tombstones the day's rows (a group can vanish: its messages moved on),
-- then inserts the new ones; computed_at orders them.
CREATE TABLE IF NOT EXISTS message_rollup
(
    day              Date,
    subaccount_id    String,
    country          LowCardinality(String),
    operator         LowCardinality(String),
    currency         LowCardinality(String),
    direction        LowCardinality(String),
    sender           String,
    state            LowCardinality(String),
    error_code       Nullable(Int32),
    error_message    String,
    verification     Bool,
    queued           Bool,
    messages         Int64,
    converted        Int64,
    cost             Decimal(38, 8),
    replied          Int64,
    replies          Int64,
    opt_outs         Int64,
    first_at         Nullable(DateTime64(6, 'UTC')),
    last_at          Nullable(DateTime64(6, 'UTC')),
    last_pending_at  Nullable(DateTime64(6, 'UTC')),
    computed_at      DateTime64(6, 'UTC'),
    is_deleted       UInt8
)
ENGINE = ReplacingMergeTree(computed_at, is_deleted)
PARTITION BY toYYYYMM(day)
-- (a NULL error code, rejected or no error, sorts as the smallest Int32: no code is)
ORDER BY (day, subaccount_id, country, operator, currency, direction, sender, state,
          ifNull(error_code, -2147483648), error_message, verification, queued)
;
-- Closed, fresh days from the roll-up; open and stale days grouped from messages_by_day.
CREATE VIEW IF NOT EXISTS message_totals AS
SELECT
    day, subaccount_id, country, operator, currency, direction, sender, state, error_code,
    error_message, verification, queued, messages, converted, cost, replied, replies, opt_outs,
    first_at, last_at, last_pending_at
FROM message_rollup FINAL
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, country, operator, currency, direction, sender, state, error_code,
    error_message, verification, queued, messages, converted, cost, replied, replies, opt_outs,
    first_at, last_at, last_pending_at
FROM message_groups
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
   OR day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
;
;
-- Latency samples: per counted, submitted outbound message, submit (queued_at) -> sent_at and
-- submit -> delivered_at in microseconds (NULL when that stage has no time).
CREATE VIEW IF NOT EXISTS latency_samples AS
SELECT
    day, subaccount_id, country, operator,
    if(sent_at IS NULL, NULL, toUnixTimestamp64Micro(assumeNotNull(sent_at))
        - toUnixTimestamp64Micro(assumeNotNull(queued_at))) AS sent_us,
    if(delivered_at IS NULL, NULL, toUnixTimestamp64Micro(assumeNotNull(delivered_at))
        - toUnixTimestamp64Micro(assumeNotNull(queued_at))) AS delivered_us
FROM messages_by_day FINAL
WHERE direction = 'OUTBOUND' AND queued_at IS NOT NULL
  AND (sent_at IS NOT NULL OR delivered_at IS NOT NULL)
;
-- The latency percentiles per day x country x operator, once per subaccount and once over all
-- of them (all_subaccounts, subaccount_id ''): percentiles of different subaccounts cannot be
-- merged, so the roll-up keeps both. Two branches, not one row per scope: a subaccount filter
-- then reaches messages_by_day's key (and makes the other branch a constant false).
-- Nearest-rank on the exact sorted values (groupArray skips NULLs): p-th percentile of n
-- samples = sorted[ceil(p * n / 100)] (1-based), in integer arithmetic; NULL without samples.
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
           arraySort(groupArray(sent_us)) AS sent, arraySort(groupArray(delivered_us)) AS delivered
    FROM latency_samples
    GROUP BY day, subaccount_id, country, operator
    UNION ALL
    SELECT day, true AS all_subaccounts, '' AS subaccount_id, country, operator,
           arraySort(groupArray(sent_us)) AS sent, arraySort(groupArray(delivered_us)) AS delivered
    FROM latency_samples
    GROUP BY day, country, operator
)
;
CREATE TABLE IF NOT EXISTS latency_rollup
(
    day                Date,
    all_subaccounts    Bool,
    subaccount_id      String,
    country            LowCardinality(String),
    operator           LowCardinality(String),
    sent_samples       Int64,
    sent_p50           Nullable(Int64),
    sent_p95           Nullable(Int64),
    sent_p99           Nullable(Int64),
    delivered_samples  Int64,
    delivered_p50      Nullable(Int64),
    delivered_p95      Nullable(Int64),
    delivered_p99      Nullable(Int64),
    computed_at        DateTime64(6, 'UTC'),
    is_deleted         UInt8
)
ENGINE = ReplacingMergeTree(computed_at, is_deleted)
PARTITION BY toYYYYMM(day)
ORDER BY (day, all_subaccounts, subaccount_id, country, operator)
;
CREATE VIEW IF NOT EXISTS latency_totals AS
SELECT
    day, all_subaccounts, subaccount_id, country, operator, sent_samples, sent_p50, sent_p95,
    sent_p99, delivered_samples, delivered_p50, delivered_p95, delivered_p99
FROM latency_rollup FINAL
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, all_subaccounts, subaccount_id, country, operator, sent_samples, sent_p50, sent_p95,
    sent_p99, delivered_samples, delivered_p50, delivered_p95, delivered_p99
FROM latency_groups
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
   OR day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
;
-- Campaign totals per day x subaccount x campaign x currency from the deduplicated deltas
-- (no country or operator: with them the roll-up would be as large as its source; a country
-- or operator filter reads the deltas, sinks/queries/campaigns.sql).
CREATE VIEW IF NOT EXISTS campaign_groups AS
SELECT
    day, subaccount_id, campaign_id, currency,
    sum(total) AS total,
    sum(chargeable) AS chargeable,
    sum(sent) AS sent,
    sum(delivered) AS delivered,
    sum(undelivered) AS undelivered,
    sum(rejected) AS rejected,
    sum(cost) AS cost
FROM daily_deltas FINAL
WHERE campaign_id != ''
GROUP BY day, subaccount_id, campaign_id, currency
-- campaign_id is in the deltas' sorting key (every version of a row shares it): filtering
-- before FINAL is exact, and skips the 90% of rows without a campaign
SETTINGS optimize_move_to_prewhere_if_final = 1
;
CREATE TABLE IF NOT EXISTS campaign_rollup
(
    day            Date,
    subaccount_id  String,
    campaign_id    String,
    currency       LowCardinality(String),
    total          Int64,
    chargeable     Int64,
    sent           Int64,
    delivered      Int64,
    undelivered    Int64,
    rejected       Int64,
    cost           Decimal(38, 8),
    computed_at    DateTime64(6, 'UTC'),
    is_deleted     UInt8
)
ENGINE = ReplacingMergeTree(computed_at, is_deleted)
PARTITION BY toYYYYMM(day)
ORDER BY (day, subaccount_id, campaign_id, currency)
;
CREATE VIEW IF NOT EXISTS campaign_totals AS
SELECT day, subaccount_id, campaign_id, currency, total, chargeable, sent, delivered,
    undelivered, rejected, cost
FROM campaign_rollup FINAL
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT day, subaccount_id, campaign_id, currency, total, chargeable, sent, delivered,
    undelivered, rejected, cost
FROM campaign_groups
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
   OR day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
;
-- daily_rollup_watermark now holds one row per roll-up family: id 1 the daily roll-up, id 2
-- the roll-ups above (which start with no closed day, so an upgraded database fills them).
DROP VIEW IF EXISTS daily_totals
;
CREATE VIEW IF NOT EXISTS daily_totals AS
SELECT
    day, subaccount_id, country, operator, currency,
    total, received, sent, delivered, undelivered, rejected, chargeable, segments,
    verification_sent, verification_converted, replies, inbound, survey_answered, clicked, cost
FROM daily_rollup FINAL
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 1)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, country, operator, currency,
    sum(total) AS total,
    sum(received) AS received,
    sum(sent) AS sent,
    sum(delivered) AS delivered,
    sum(undelivered) AS undelivered,
    sum(rejected) AS rejected,
    sum(chargeable) AS chargeable,
    sum(segments) AS segments,
    sum(verification_sent) AS verification_sent,
    sum(verification_converted) AS verification_converted,
    sum(replies) AS replies,
    sum(inbound) AS inbound,
    sum(survey_answered) AS survey_answered,
    sum(clicked) AS clicked,
    sum(cost) AS cost
FROM daily_deltas FINAL
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 1)
   OR day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
GROUP BY day, subaccount_id, country, operator, currency
