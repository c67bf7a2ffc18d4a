-- smsflow analytics schema, version 5: the daily roll-up (issue 18; exactness: sinks/README.md).
-- daily_rollup holds the sums of daily_deltas FINAL per day x subaccount x country x operator x
-- currency (what daily, dashboard and countries show and filter by) for the closed days,
-- recomputed whole by the sink (sinks/rollup.py) for every closed day a batch touched, from
-- the deduplicated source: a replay or a duplicate changes nothing it reads, so nothing it
-- writes. Never summed on insert.
-- A recompute replaces every group of its day: ReplacingMergeTree(computed_at), read FINAL.
CREATE TABLE IF NOT EXISTS daily_rollup
(
    day                     Date,
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
    computed_at             DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(day)
ORDER BY (day, subaccount_id, country, operator, currency)
;
-- Every day <= rolled_through is in daily_rollup (the largest row wins; it only grows).
CREATE TABLE IF NOT EXISTS daily_rollup_watermark
(
    id              UInt8,
    rolled_through  Date,
    updated_at      DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id
;
-- The daily totals per day x subaccount x country x operator x currency: closed days from the
-- roll-up, open days (after the watermark) summed from the deduplicated deltas.
CREATE VIEW IF NOT EXISTS daily_totals AS
SELECT
    day, subaccount_id, country, operator, currency,
    total, received, sent, delivered, undelivered, rejected, chargeable, segments,
    verification_sent, verification_converted, replies, inbound, survey_answered, clicked, cost
FROM daily_rollup FINAL
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark)
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
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark)
GROUP BY day, subaccount_id, country, operator, currency
