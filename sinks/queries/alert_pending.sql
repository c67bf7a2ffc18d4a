-- alert_pending: per country x operator, messages submitted in the window ending 1 h before
-- {t_us} (so every one is at least 1 h old at t) and those still without a final receipt at t
-- (not rejected, neither delivered nor undelivered before t).
SELECT country, operator,
       count() AS total,
       countIf(coalesce(rejected_at, delivered_at, undelivered_at, t) >= t) AS pending
FROM (
    SELECT country, operator, rejected_at, delivered_at, undelivered_at,
           fromUnixTimestamp64Micro({t_us:Int64}, 'UTC') AS t,
           {t_us:Int64} - 3600000000 - toUnixTimestamp64Micro(assumeNotNull(queued_at)) AS age
    FROM messages FINAL
    WHERE direction = 'OUTBOUND' AND counted AND queued_at IS NOT NULL
      AND day >= toDate(fromUnixTimestamp64Micro({t_us:Int64} - 86400000000 - {window_us:Int64}, 'UTC'))
      AND age > 0 AND age <= {window_us:Int64}
)
GROUP BY country, operator
ORDER BY country, operator
