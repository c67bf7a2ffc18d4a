-- smsflow analytics schema, version 10: the uncounted feed looks up only the inserted umids.
-- messages_uncounted_feed (version 9) wrote a tombstone for a counted version whose umid has an
-- uncounted row, found with `umid IN (SELECT umid FROM messages_uncounted)`: every insert into
-- `messages` read every umid of that table (it grows with orphan receipts) and built a set of
-- them. In a materialized view the source table names the inserted block, in subqueries too,
-- so the lookup below reads only the block's umids, through messages_uncounted's key. Same
-- rows written as before; MODIFY QUERY swaps the query in place (no insert runs without it).
ALTER TABLE messages_uncounted_feed MODIFY QUERY
SELECT
    umid, version, toUInt8(counted) AS is_deleted, direction, day, subaccount_id, country,
    operator, queued_at, rejected_at, first_event_at
FROM messages
WHERE NOT counted
   OR umid IN (SELECT umid FROM messages_uncounted WHERE umid IN (SELECT umid FROM messages))
