-- timeline: every input event of one message in time order (duplicates included and marked).
-- duplicate = an earlier record (by topic, partition, offset) of the same kind, state and event
-- time exists: a webhook retry or a re-posted event. The first copy is not a duplicate.
SELECT
    event_at,
    kind,
    state,
    error_code,
    error_message,
    topic,
    partition,
    offset,
    JSONExtractString(payload, 'detail') AS detail,
    toBool(row_number() OVER (PARTITION BY kind, state, event_at
                              ORDER BY topic, partition, offset) > 1) AS duplicate
FROM message_events FINAL
WHERE umid = {umid:UUID}
ORDER BY event_at, topic, partition, offset
