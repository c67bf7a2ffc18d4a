-- message: every field of one message's current record.
SELECT * EXCEPT (ingested_at)
FROM messages FINAL
WHERE umid = {umid:UUID}
