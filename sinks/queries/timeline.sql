-- timeline: every input event of one message in time order (duplicates included).
SELECT
    event_at,
    kind,
    state,
    error_code,
    error_message,
    topic,
    partition,
    offset
FROM message_events FINAL
WHERE umid = {umid:UUID}
ORDER BY event_at, topic, partition, offset
