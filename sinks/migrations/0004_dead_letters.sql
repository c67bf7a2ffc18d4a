-- smsflow analytics schema, version 4: the dead-letter topic, landed by the sink.
-- One row per dead-letter record, identity (topic, partition, offset) of that record on the
-- dead-letter topic, so a redelivered batch collapses (ReplacingMergeTree, read with FINAL).
-- payload holds a display copy under the PII policy (sinks/deadletters.py): JSON of the
-- decodable record or the redacted text; binary that does not decode is not stored.
CREATE TABLE IF NOT EXISTS dead_letters
(
    topic             LowCardinality(String) COMMENT 'the dead-letter topic',
    partition         UInt16,
    offset            UInt64,
    component         LowCardinality(String) COMMENT 'producer, receiver, worker or sink',
    reason            LowCardinality(String),
    error             String,
    source_topic      LowCardinality(String) COMMENT 'topic the record came from or was meant for',
    source_partition  Nullable(Int32),
    source_offset     Nullable(Int64),
    key               String,
    payload           String COMMENT 'redacted display copy (empty for undecodable binary)',
    payload_bytes     UInt32 COMMENT 'size of the payload copy on the dead-letter topic',
    failed_at         DateTime64(6, 'UTC'),
    ingested_at       DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(failed_at)
ORDER BY (topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 1000
