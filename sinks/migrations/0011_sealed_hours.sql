-- smsflow analytics schema, version 11: sealed hours of the open days (issue 18; exactness:
-- sinks/README.md "Sealed hours").
-- Closed days are read from day roll-ups; the open ones (the newest SMSFLOW_ROLLUP_OPEN_DAYS)
-- were read whole from the source: 1/15 of the data in a 30-day shape, 0.1-0.2 s of every
-- unfiltered report at 10M messages and 0.8-6.4 s at 100M. Now an open day is cut by `hour`,
-- the UTC hour of the time that gives a row its day (the request's queued_at; the MO's receipt
-- time for inbound; smsflow.contribution.request_hour):
-- * daily_deltas and messages_by_day are ordered by day, then hour (rebuilt below), so the
--   newest hours are read without the rest of their day;
-- * an hour older than the newest one seen by SMSFLOW_ROLLUP_OPEN_HOURS is *sealed*: rolled up
--   per hour (*_rollup_hourly, watermark rollup_sealed), recomputed whole from the
--   deduplicated source like a day; a sealed hour that gets rows later is marked stale
--   (rollup_stale_hours) and read from the source until it is recomputed. The hourly
--   roll-ups are partitioned by day: a day's partition is dropped once the day is closed.
-- The source part of a report is then the newest hours and the stale ones, not two whole days.
-- The latency percentiles do not add up over hours: latency_totals is unchanged.
-- Upgrading rebuilds the two tables (every stored row is copied once; sinks must be stopped,
-- as for every migration). Stored delta rows read hour 0: any fixed hour per row keeps the
-- sums exact (a delta row is never replaced, only added); messages_by_day computes the hour
-- from the row, so every version of a message has the same one.
ALTER TABLE daily_deltas
    ADD COLUMN IF NOT EXISTS hour UInt8 DEFAULT 0
;
-- The start of the last sealed hour of each family (id as in daily_rollup_watermark).
CREATE TABLE IF NOT EXISTS rollup_sealed
(
    id              UInt8,
    sealed_through  DateTime('UTC'),
    updated_at      DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id
;
CREATE TABLE IF NOT EXISTS rollup_stale_hours
(
    day         Date,
    hour        UInt8,
    stale       UInt8,
    changed_at  DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(changed_at)
ORDER BY (day, hour)
;
-- ------------------------------------------------- daily_deltas and messages_by_day by hour
-- (the copy collapses with rows the feed inserts meanwhile: same key, same version)
CREATE TABLE IF NOT EXISTS daily_deltas_v11
(
    day                     Date,
    subaccount_id           String,
    country                 LowCardinality(String),
    operator                LowCardinality(String),
    origin                  LowCardinality(String),
    encoding                LowCardinality(String),
    campaign_id             String,
    currency                LowCardinality(String),
    umid                    UUID,
    version                 UInt64,
    total                   Int32,
    received                Int32,
    sent                    Int32,
    delivered               Int32,
    undelivered             Int32,
    rejected                Int32,
    chargeable              Int32,
    segments                Int32,
    verification_sent       Int32,
    verification_converted  Int32,
    replies                 Int32,
    inbound                 Int32,
    survey_answered         Int32,
    clicked                 Int32,
    cost                    Decimal(18, 8),
    event_at                DateTime64(6, 'UTC'),
    ingested_at             DateTime64(6, 'UTC') DEFAULT now64(6),
    hour                    UInt8 DEFAULT 0
        COMMENT 'UTC hour of the time that gives day (smsflow.contribution.request_hour)'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, hour, subaccount_id, country, operator, origin, encoding, campaign_id, currency,
          umid, version)
SETTINGS non_replicated_deduplication_window = 1000
;
INSERT INTO daily_deltas_v11 SELECT * FROM daily_deltas
;
EXCHANGE TABLES daily_deltas AND daily_deltas_v11
;
DROP TABLE IF EXISTS daily_deltas_v11
;
CREATE TABLE IF NOT EXISTS messages_by_day_v11
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
    flags           Array(LowCardinality(String)),
    hour            UInt8 MATERIALIZED
        toHour(ifNull(if(direction = 'INBOUND', first_event_at, queued_at),
                      toDateTime64(0, 6, 'UTC')))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, hour, subaccount_id, umid)
;
INSERT INTO messages_by_day_v11 SELECT * FROM messages_by_day
;
-- messages_by_day_feed writes to the table of that name (looked up at each insert)
EXCHANGE TABLES messages_by_day AND messages_by_day_v11
;
DROP TABLE IF EXISTS messages_by_day_v11
;
-- ---------------------------------------------------------------- the daily family (id 1)
CREATE VIEW IF NOT EXISTS daily_groups_hourly AS
SELECT
    day, hour, subaccount_id, country, operator, currency,
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
GROUP BY day, hour, subaccount_id, country, operator, currency
;
-- One partition per day, dropped once the day is closed (sinks/rollup.py).
CREATE TABLE IF NOT EXISTS daily_rollup_hourly
(
    day                     Date,
    hour                    UInt8,
    subaccount_id           String,
    country                 LowCardinality(String),
    operator                LowCardinality(String),
    currency                LowCardinality(String),
    total                   Int64,
    received                Int64,
    sent                    Int64,
    delivered               Int64,
    undelivered             Int64,
    rejected                Int64,
    chargeable              Int64,
    segments                Int64,
    verification_sent       Int64,
    verification_converted  Int64,
    replies                 Int64,
    inbound                 Int64,
    survey_answered         Int64,
    clicked                 Int64,
    cost                    Decimal(38, 8),
    computed_at             DateTime64(6, 'UTC'),
    is_deleted              UInt8
)
ENGINE = ReplacingMergeTree(computed_at, is_deleted)
PARTITION BY day
ORDER BY (day, hour, subaccount_id, country, operator, currency)
;
DROP VIEW IF EXISTS daily_totals
;
-- Closed, fresh days from daily_rollup; sealed, fresh hours of the other days from
-- daily_rollup_hourly; stale days from the deltas; the newest and the stale hours of the other
-- days from the deltas too. The four conditions put every (day, hour) in exactly one part.
CREATE VIEW IF NOT EXISTS daily_totals AS
SELECT
    day, subaccount_id, country, operator, currency,
    total, received, sent, delivered, undelivered, rejected, chargeable,
    segments, verification_sent, verification_converted, replies, inbound, survey_answered,
    clicked, cost
FROM daily_rollup FINAL
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 1)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, country, operator, currency,
    total, received, sent, delivered, undelivered, rejected, chargeable,
    segments, verification_sent, verification_converted, replies, inbound, survey_answered,
    clicked, cost
FROM daily_rollup_hourly FINAL
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 1)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
  AND (day < toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 1))
       OR day = toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 1))
          AND hour <= toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 1)))
  AND (day, hour) NOT IN (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1)
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
WHERE day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
GROUP BY day, subaccount_id, country, operator, currency
UNION ALL
SELECT
    day, subaccount_id, country, operator, currency,
    total, received, sent, delivered, undelivered, rejected, chargeable,
    segments, verification_sent, verification_converted, replies, inbound, survey_answered,
    clicked, cost
FROM daily_groups_hourly
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 1)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
  AND (day >= toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 1))
       AND (day > toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 1))
            OR hour > toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 1)))
       OR (day, hour) IN (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1))
;
-- ---------------------------------------------------------- the report layout (id 2)
DROP VIEW IF EXISTS message_totals
;
DROP VIEW IF EXISTS message_groups
;
-- message_groups (version 9) per hour; message_groups sums it over the hours.
CREATE VIEW IF NOT EXISTS message_groups_hourly AS
SELECT
    day, hour, subaccount_id, country, operator, currency, direction,
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
GROUP BY day, hour, subaccount_id, country, operator, currency, direction, sender, state,
    error_code, error_message, verification, queued
;
CREATE VIEW IF NOT EXISTS message_groups AS
SELECT
    day, subaccount_id, country, operator, currency, direction, sender, state, error_code,
    error_message, verification, queued,
    sum(messages) AS messages,
    sum(converted) AS converted,
    sum(cost) AS cost,
    sum(replied) AS replied,
    sum(replies) AS replies,
    sum(opt_outs) AS opt_outs,
    min(first_at) AS first_at,
    max(last_at) AS last_at,
    max(last_pending_at) AS last_pending_at
FROM message_groups_hourly
GROUP BY day, subaccount_id, country, operator, currency, direction, sender, state, error_code,
    error_message, verification, queued
;
CREATE TABLE IF NOT EXISTS message_rollup_hourly
(
    day              Date,
    hour             UInt8,
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
PARTITION BY day
ORDER BY (day, hour, subaccount_id, country, operator, currency, direction, sender, state,
          ifNull(error_code, -2147483648), error_message, verification, queued)
;
CREATE VIEW IF NOT EXISTS message_totals AS
SELECT
    day, subaccount_id, country, operator, currency, direction, sender, state, error_code,
    error_message, verification, queued, messages, converted, cost, replied, replies,
    opt_outs, first_at, last_at, last_pending_at
FROM message_rollup FINAL
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, country, operator, currency, direction, sender, state, error_code,
    error_message, verification, queued, messages, converted, cost, replied, replies,
    opt_outs, first_at, last_at, last_pending_at
FROM message_rollup_hourly FINAL
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
  AND (day < toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
       OR day = toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
          AND hour <= toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2)))
  AND (day, hour) NOT IN (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, country, operator, currency, direction, sender, state, error_code,
    error_message, verification, queued, messages, converted, cost, replied, replies,
    opt_outs, first_at, last_at, last_pending_at
FROM message_groups
WHERE day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, country, operator, currency, direction, sender, state, error_code,
    error_message, verification, queued, messages, converted, cost, replied, replies,
    opt_outs, first_at, last_at, last_pending_at
FROM message_groups_hourly
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
  AND (day >= toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
       AND (day > toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
            OR hour > toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2)))
       OR (day, hour) IN (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1))
;
DROP VIEW IF EXISTS campaign_totals
;
DROP VIEW IF EXISTS campaign_groups
;
-- campaign_groups (version 9) per hour; campaign_groups sums it over the hours.
CREATE VIEW IF NOT EXISTS campaign_groups_hourly AS
SELECT
    day, hour, subaccount_id, campaign_id, currency,
    sum(total) AS total,
    sum(chargeable) AS chargeable,
    sum(sent) AS sent,
    sum(delivered) AS delivered,
    sum(undelivered) AS undelivered,
    sum(rejected) AS rejected,
    sum(cost) AS cost
FROM daily_deltas FINAL
WHERE campaign_id != ''
GROUP BY day, hour, subaccount_id, campaign_id, currency
-- campaign_id is in the deltas' sorting key: filtering before FINAL is exact (version 9)
SETTINGS optimize_move_to_prewhere_if_final = 1
;
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
FROM campaign_groups_hourly
GROUP BY day, subaccount_id, campaign_id, currency
;
CREATE TABLE IF NOT EXISTS campaign_rollup_hourly
(
    day            Date,
    hour           UInt8,
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
PARTITION BY day
ORDER BY (day, hour, subaccount_id, campaign_id, currency)
;
CREATE VIEW IF NOT EXISTS campaign_totals AS
SELECT
    day, subaccount_id, campaign_id, currency, total, chargeable, sent, delivered,
    undelivered, rejected, cost
FROM campaign_rollup FINAL
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, campaign_id, currency, total, chargeable, sent, delivered,
    undelivered, rejected, cost
FROM campaign_rollup_hourly FINAL
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
  AND (day < toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
       OR day = toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
          AND hour <= toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2)))
  AND (day, hour) NOT IN (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, campaign_id, currency, total, chargeable, sent, delivered,
    undelivered, rejected, cost
FROM campaign_groups
WHERE day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
UNION ALL
SELECT
    day, subaccount_id, campaign_id, currency, total, chargeable, sent, delivered,
    undelivered, rejected, cost
FROM campaign_groups_hourly
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2)
  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
  AND (day >= toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
       AND (day > toDate((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2))
            OR hour > toHour((SELECT max(sealed_through) FROM rollup_sealed WHERE id = 2)))
       OR (day, hour) IN (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1))
