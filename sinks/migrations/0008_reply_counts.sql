-- smsflow analytics schema, version 8: the worker's reply counts per outbound message.
-- The worker matches MOs to the outbound they answer (streams/replies.py) and now stores, next
-- to replied/replied_at, how many MOs answer the outbound and how many of those are opt-outs
-- (MessageState reply_count / opt_out_count). The replies report sums them instead of redoing
-- the matching in SQL. Rows written before this migration read 0 until their message gets a
-- new version (the worker re-sends a pair's counts when the pair next changes or sees a
-- duplicate).
ALTER TABLE messages
    ADD COLUMN IF NOT EXISTS reply_count UInt32 DEFAULT 0
    COMMENT 'outbound: inbound MOs that answer it (0 when not replied)'
;
ALTER TABLE messages
    ADD COLUMN IF NOT EXISTS opt_out_count UInt32 DEFAULT 0
    COMMENT 'outbound: of the MOs that answer it, those whose text is a stop keyword'
