-- alert_latency: per country x operator, submit->delivered of the messages delivered in the
-- window ending at {t_us}: sample count and p95 by nearest rank (as sinks/queries/latency.sql).
SELECT country, operator, samples,
       if(samples = 0, NULL, us[intDiv(95 * samples + 99, 100)]) AS p95_us
FROM (
    SELECT country, operator,
           arraySort(groupArray(toUnixTimestamp64Micro(assumeNotNull(delivered_at))
                                - toUnixTimestamp64Micro(assumeNotNull(queued_at)))) AS us,
           length(us) AS samples
    FROM messages FINAL
    WHERE direction = 'OUTBOUND' AND counted AND queued_at IS NOT NULL
      AND delivered_at IS NOT NULL
      AND day >= toDate(fromUnixTimestamp64Micro({t_us:Int64} - 8 * 86400000000, 'UTC'))
      AND toUnixTimestamp64Micro(assumeNotNull(delivered_at)) < {t_us:Int64}
      AND toUnixTimestamp64Micro(assumeNotNull(delivered_at)) >= {t_us:Int64} - {window_us:Int64}
    GROUP BY country, operator
)
ORDER BY country, operator
