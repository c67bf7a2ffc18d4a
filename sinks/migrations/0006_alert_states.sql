-- smsflow analytics schema, version 6: alert states (issue 19, sinks/alerts.py; 0005 is the
-- daily rollup of issue 18).
-- One row per alert instance, identity (rule, key, started_at): the instance's latest state
-- is the row with the highest evaluated_at (ReplacingMergeTree, read with FINAL). Every time is
-- event time (an evaluation instant), so evaluating the same history again writes the same
-- rows and they collapse: a replay raises exactly the alerts it would have raised.
CREATE TABLE IF NOT EXISTS alert_states
(
    rule          LowCardinality(String),
    key           String COMMENT 'what the rule watched: country/operator, error code, all',
    started_at    DateTime64(6, 'UTC') COMMENT 'first evaluation that saw the condition',
    state         LowCardinality(String) COMMENT 'pending, firing or resolved',
    fired_at      Nullable(DateTime64(6, 'UTC')),
    ended_at      Nullable(DateTime64(6, 'UTC')) COMMENT 'first evaluation without it',
    value         Decimal(18, 6) COMMENT 'the measured value at the last evaluation seeing it',
    threshold     Decimal(18, 6),
    detail        String,
    evaluated_at  DateTime64(6, 'UTC'),
    ingested_at   DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(evaluated_at)
ORDER BY (rule, key, started_at)
SETTINGS non_replicated_deduplication_window = 1000
