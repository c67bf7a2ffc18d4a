-- alert_delivery: per country x operator and day offset d (0 = the window ending at {t_us},
-- 1..7 = the same window d days earlier), messages submitted (queued_at) in the window, those
-- delivered before the window's end and, per error code, those failed before it.
-- A message of age a = t - queued_at (microseconds) is in window d when
-- d * DAY < a <= d * DAY + window, i.e. d = intDiv(a - 1, DAY) and (a - 1) % DAY < window.
SELECT country, operator, d, error_code,
       count() AS total,
       countIf(delivered_at IS NOT NULL AND delivered_at < window_end) AS delivered,
       countIf(error_code IS NOT NULL
               AND coalesce(undelivered_at, rejected_at, delivered_at) < window_end) AS failed
FROM (
    SELECT country, operator, delivered_at, undelivered_at, rejected_at, error_code,
           {t_us:Int64} - toUnixTimestamp64Micro(assumeNotNull(queued_at)) - 1 AS age,
           intDiv(age, 86400000000) AS d,
           fromUnixTimestamp64Micro({t_us:Int64} - d * 86400000000, 'UTC') AS window_end
    FROM messages FINAL
    WHERE direction = 'OUTBOUND' AND counted AND queued_at IS NOT NULL
      AND day >= toDate(fromUnixTimestamp64Micro({t_us:Int64} - 8 * 86400000000 - {window_us:Int64}, 'UTC'))
      AND day <= toDate(fromUnixTimestamp64Micro({t_us:Int64}, 'UTC'))
      AND age >= 0 AND age < 8 * 86400000000 AND age % 86400000000 < {window_us:Int64}
)
GROUP BY country, operator, d, error_code
ORDER BY country, operator, d, error_code
