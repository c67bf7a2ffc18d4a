-- alert_deadletters: dead letters failed in the window ending at {t_us}.
SELECT count() AS dead_letters
FROM dead_letters FINAL
WHERE toUnixTimestamp64Micro(failed_at) < {t_us:Int64}
  AND toUnixTimestamp64Micro(failed_at) >= {t_us:Int64} - {window_us:Int64}
