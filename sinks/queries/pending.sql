-- pending: DLR coverage per operator. Sent = state sent|delivered|undelivered|read; a final
-- receipt = state delivered|undelivered|read. Sent messages without one are bucketed by age
-- = {at_us} - queued_at (submission): < 1 h, 1-6 h, 6-24 h, 24-48 h, expired (>= 48 h; the
-- platform stops looking for receipts 48 h after sending). A message submitted after `at` is in
-- the first bucket. Queued = accepted and never a receipt (not in the coverage).
-- Closed, fresh days come from message_rollup unless a pending message of theirs is younger
-- than 48 h at `at` (a group's last_pending_at): such `young` days, and the open and stale
-- days, are bucketed message by message from messages_by_day (the day split of the
-- message_totals view, written out because the young days depend on `at`).
WITH
    (SELECT max(rolled_through) FROM daily_rollup_watermark WHERE id = 2) AS rolled,
    young AS
    (
        SELECT day
        FROM message_rollup FINAL
        WHERE direction = 'OUTBOUND' AND queued AND state = 'sent'
          AND {at_us:Int64} - toUnixTimestamp64Micro(assumeNotNull(last_pending_at))
              < 172800000000
          AND day BETWEEN {date_from:Date} AND {date_to:Date}
          AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
          AND ({country:String} = '' OR country = {country:String})
          AND ({operator:String} = '' OR operator = {operator:String})
        GROUP BY day  -- not DISTINCT: on FINAL that reads in order, 15x slower
    ),
    stale AS (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
SELECT
    operator,
    sum(n_sent) AS sent,
    sum(n_final) AS final,
    sum(n_pending) AS pending,
    sum(n_lt_1h) AS lt_1h,
    sum(n_h1_6) AS h1_6,
    sum(n_h6_24) AS h6_24,
    sum(n_h24_48) AS h24_48,
    sum(n_expired) AS expired,
    sum(n_queued) AS queued
FROM
(
    SELECT
        operator,
        sumIf(messages, state IN ('sent', 'delivered', 'undelivered', 'read')) AS n_sent,
        sumIf(messages, state IN ('delivered', 'undelivered', 'read')) AS n_final,
        sumIf(messages, state = 'sent') AS n_pending,
        toInt64(0) AS n_lt_1h, toInt64(0) AS n_h1_6, toInt64(0) AS n_h6_24,
        toInt64(0) AS n_h24_48,
        sumIf(messages, state = 'sent') AS n_expired,
        sumIf(messages, state = 'queued') AS n_queued
    FROM message_rollup FINAL
    WHERE direction = 'OUTBOUND' AND queued
      AND day <= rolled AND day NOT IN stale AND day NOT IN young
      AND day BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({operator:String} = '' OR operator = {operator:String})
    GROUP BY operator
    UNION ALL
    SELECT
        operator,
        toInt64(countIf(state IN ('sent', 'delivered', 'undelivered', 'read'))) AS n_sent,
        toInt64(countIf(state IN ('delivered', 'undelivered', 'read'))) AS n_final,
        toInt64(countIf(state = 'sent')) AS n_pending,
        toInt64(countIf(state = 'sent' AND age_us < 3600000000)) AS n_lt_1h,
        toInt64(countIf(state = 'sent' AND age_us >= 3600000000 AND age_us < 21600000000)) AS n_h1_6,
        toInt64(countIf(state = 'sent' AND age_us >= 21600000000 AND age_us < 86400000000)) AS n_h6_24,
        toInt64(countIf(state = 'sent' AND age_us >= 86400000000 AND age_us < 172800000000)) AS n_h24_48,
        toInt64(countIf(state = 'sent' AND age_us >= 172800000000)) AS n_expired,
        toInt64(countIf(state = 'queued')) AS n_queued
    FROM
    (
        SELECT
            operator,
            state,
            {at_us:Int64} - toUnixTimestamp64Micro(assumeNotNull(queued_at)) AS age_us
        FROM messages_by_day FINAL
        WHERE direction = 'OUTBOUND' AND queued_at IS NOT NULL
          AND (day > rolled OR day IN stale OR day IN young)
          AND day BETWEEN {date_from:Date} AND {date_to:Date}
          AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
          AND ({country:String} = '' OR country = {country:String})
          AND ({operator:String} = '' OR operator = {operator:String})
    )
    GROUP BY operator
)
GROUP BY operator
HAVING sent + queued > 0
ORDER BY operator
