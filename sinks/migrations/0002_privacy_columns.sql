-- smsflow analytics schema, version 2: the PII policy (smsflow/privacy.py).
-- Message text is no longer stored by default (messages.text is '' unless SMSFLOW_STORE_TEXT);
-- what the reports need of it is kept as derived columns. Rows written before this migration
-- still hold their text: the defaults derive the same values from it on read.
-- Retention TTLs are not fixed here: they come from settings and are (re)applied by
-- sinks/ttl.py each time the sink starts.
ALTER TABLE messages
    ADD COLUMN IF NOT EXISTS text_length UInt32 DEFAULT lengthUTF8(text)
    COMMENT 'characters of the message text (stored or not)'
;
ALTER TABLE messages
    ADD COLUMN IF NOT EXISTS opt_out LowCardinality(String) DEFAULT if(
        upperUTF8(replaceRegexpAll(text,
            '[\\t\\n\\x{0B}\\f\\r \\x{1C}-\\x{1F}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}]',
            '')) IN ('STOP', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'STOPALL'),
        upperUTF8(replaceRegexpAll(text,
            '[\\t\\n\\x{0B}\\f\\r \\x{1C}-\\x{1F}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}]',
            '')),
        '')
    COMMENT 'the stop keyword the text is (whitespace removed, upper-cased), else empty'
