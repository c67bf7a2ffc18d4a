-- smsflow analytics schema, version 7: closed days whose roll-up is behind their deltas.
-- A late receipt for a closed day used to recompute that day whole in the very flush that
-- stored it (~1 s per flush while late data streams in). Now that flush only marks the day
-- stale (stale = 1), before the Kafka commit; the sink recomputes the stale days together at
-- most every SMSFLOW_ROLLUP_SETTLE_SECONDS, and at its stop, then marks them fresh
-- (stale = 0, a later changed_at). Until then daily_totals reads a stale day from the
-- deduplicated deltas, like an open day: reports are exact at every moment (sinks/README.md).
CREATE TABLE IF NOT EXISTS daily_rollup_stale
(
    day         Date,
    stale       UInt8,
    changed_at  DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(changed_at)
ORDER BY day
;
DROP VIEW IF EXISTS daily_totals
;
-- The daily totals: closed, fresh days from the roll-up; open and stale days summed from the
-- deduplicated deltas.
CREATE VIEW IF NOT EXISTS daily_totals AS
SELECT
    day, subaccount_id, country, operator, currency,
    total, received, sent, delivered, undelivered, rejected, chargeable, segments,
    verification_sent, verification_converted, replies, inbound, survey_answered, clicked, cost
FROM daily_rollup FINAL
WHERE day <= (SELECT max(rolled_through) FROM daily_rollup_watermark)
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
WHERE day > (SELECT max(rolled_through) FROM daily_rollup_watermark)
   OR day IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
GROUP BY day, subaccount_id, country, operator, currency
