-- smsflow analytics schema, version 3: acceptance-policy flags (README "Acceptance policy").
-- An event the platform accepted is kept even when a field is odd; the reasons travel on the
-- MessageState record and land here (number_unlisted, number_invalid,
-- operator_unknown). Rows written before this migration have no flags.
ALTER TABLE messages
    ADD COLUMN IF NOT EXISTS flags Array(LowCardinality(String)) DEFAULT []
    COMMENT 'why the kept message is flagged, sorted; empty when clean'
;
