-- deadletters: dead letters by source (component, original topic) and reason, with the first
-- and last failure time and the id (partition:offset on the dead-letter topic) of the latest.
-- Days and since/until filter the failure time (UTC).
SELECT
    component,
    source_topic,
    reason,
    count() AS dead_letters,
    min(failed_at) AS first_failed,
    max(failed_at) AS last_failed,
    argMax(concat(toString(partition), ':', toString(offset)), (failed_at, partition, offset))
        AS latest_id
FROM dead_letters FINAL
WHERE toDate(failed_at) BETWEEN {date_from:Date} AND {date_to:Date}
  AND toUnixTimestamp64Micro(failed_at) >= {since_us:Int64}
  AND toUnixTimestamp64Micro(failed_at) < {until_us:Int64}
GROUP BY component, source_topic, reason
ORDER BY dead_letters DESC, component, source_topic, reason
