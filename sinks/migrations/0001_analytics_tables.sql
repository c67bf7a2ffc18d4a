-- smsflow analytics schema, version 1.
-- Every table is keyed by the identity of what it stores, so a redelivered Kafka batch
-- collapses (ReplacingMergeTree) and, within the deduplication window, is not even stored
-- twice (insert_deduplication_token). Read the Replacing tables with FINAL.
-- Statements are separated by lines holding only ";" and are idempotent (IF NOT EXISTS).

-- One current row per message (outbound or inbound MO): the highest MessageState.version.
-- ORDER BY umid only: subaccount and day are unknown until the request arrives (receipts can
-- come first), and rows of one umid only collapse when partition and sorting key are equal.
CREATE TABLE IF NOT EXISTS messages
(
    umid                 UUID,
    version              UInt64,
    direction            LowCardinality(String),
    has_request          Bool,
    orphan               Bool,
    counted              Bool COMMENT 'the version has a contribution (counts in the reports)',
    day                  Date COMMENT 'report day: contribution day, else day of first event',
    subaccount_id        String,
    batch_id             String,
    client_message_id    String,
    client_batch_id      String,
    campaign_id          String,
    origin               LowCardinality(String),
    source               String,
    destination          String,
    text                 String,
    encoding             LowCardinality(String),
    sms_count            UInt16,
    country              LowCardinality(String),
    operator             LowCardinality(String),
    mcc                  LowCardinality(String),
    mnc                  LowCardinality(String),
    verification         Bool,
    state                LowCardinality(String),
    detail               LowCardinality(String),
    error_code           Nullable(Int32),
    error_message        String,
    price_total          Nullable(Decimal(18, 8)),
    price_per_sms        Nullable(Decimal(18, 8)),
    currency             LowCardinality(String),
    cost                 Decimal(18, 8) COMMENT 'contribution cost: 0 when rejected or unpriced',
    queued_at            Nullable(DateTime64(6, 'UTC')),
    rejected_at          Nullable(DateTime64(6, 'UTC')),
    sent_at              Nullable(DateTime64(6, 'UTC')),
    delivered_at         Nullable(DateTime64(6, 'UTC')),
    undelivered_at       Nullable(DateTime64(6, 'UTC')),
    read_at              Nullable(DateTime64(6, 'UTC')),
    first_event_at       Nullable(DateTime64(6, 'UTC')),
    receipts             UInt32,
    duplicates           UInt32,
    converted            Bool,
    converted_at         Nullable(DateTime64(6, 'UTC')),
    replied              Bool,
    replied_at           Nullable(DateTime64(6, 'UTC')),
    survey_answered      Bool,
    clicked              Bool,
    clicks               UInt32,
    ingested_at          DateTime64(6, 'UTC') DEFAULT now64(6),
    INDEX idx_day day TYPE minmax GRANULARITY 4,
    INDEX idx_subaccount subaccount_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
ORDER BY umid
SETTINGS non_replicated_deduplication_window = 1000
;
-- Contribution deltas of the daily report, identity (umid, version, key). Replays are
-- byte-identical and collapse; never a SummingMergeTree (it cannot tell a replay from a delta).
CREATE TABLE IF NOT EXISTS daily_deltas
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
    ingested_at             DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, subaccount_id, country, operator, origin, encoding, campaign_id, currency,
          umid, version)
SETTINGS non_replicated_deduplication_window = 1000
;
-- The daily aggregate: sums over the deduplicated deltas (exact, replay-proof).
CREATE VIEW IF NOT EXISTS daily_stats AS
SELECT
    day, subaccount_id, country, operator, origin, encoding, campaign_id, currency,
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
GROUP BY day, subaccount_id, country, operator, origin, encoding, campaign_id, currency
;
-- Every input event (audit, replay, status timelines), identity (topic, partition, offset).
CREATE TABLE IF NOT EXISTS message_events
(
    umid             UUID,
    topic            LowCardinality(String),
    partition        UInt16,
    offset           UInt64,
    kind             LowCardinality(String) COMMENT 'Avro schema name',
    event_at         DateTime64(6, 'UTC') COMMENT 'time the event itself carries',
    subaccount_id    String,
    state            LowCardinality(String) COMMENT 'status.state of receipts and requests',
    error_code       Nullable(Int32),
    error_message    String,
    payload          String COMMENT 'the decoded record as JSON (sorted keys)',
    kafka_timestamp  DateTime64(3, 'UTC'),
    ingested_at      DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_at)
ORDER BY (umid, topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 1000
;
-- OTP feedback events (conversion signals), identity (topic, partition, offset).
CREATE TABLE IF NOT EXISTS conversions
(
    umid            UUID,
    topic           LowCardinality(String),
    partition       UInt16,
    offset          UInt64,
    subaccount_id   String,
    converted_at    DateTime64(6, 'UTC'),
    ingested_at     DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(converted_at)
ORDER BY (umid, topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 1000
;
-- SMS Engage survey responses with their answers, identity (topic, partition, offset).
CREATE TABLE IF NOT EXISTS survey_responses
(
    umid                 UUID,
    topic                LowCardinality(String),
    partition            UInt16,
    offset               UInt64,
    survey_id            String,
    survey_started_at    Nullable(DateTime64(6, 'UTC')),
    survey_submitted_at  DateTime64(6, 'UTC'),
    template_variables   Nested(name String, value Nullable(String)),
    answers              Nested(
        question_id String, answer_id Nullable(String), question String, answer Nullable(String)
    ),
    ingested_at          DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(survey_submitted_at)
ORDER BY (survey_id, umid, topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 1000
;
-- Short-URL clicks, identity (topic, partition, offset).
CREATE TABLE IF NOT EXISTS clicks
(
    umid         UUID,
    topic        LowCardinality(String),
    partition    UInt16,
    offset       UInt64,
    clicked_at   DateTime64(6, 'UTC'),
    url          String,
    short_url    String,
    user_agent   String,
    ingested_at  DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(clicked_at)
ORDER BY (umid, topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 1000
;
