-- alert_latency: per country x operator, submit->delivered of the messages submitted in the
-- window ending at {t_us} and delivered before {t_us}: sample count and p95 by nearest rank
-- (as sinks/queries/latency.sql). A spike shows as soon as its slow messages are delivered;
-- messages still without a receipt are left out (the pending rule watches those).
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
      AND day >= toDate(fromUnixTimestamp64Micro({t_us:Int64} - 86400000000 - {window_us:Int64}, 'UTC'))
      AND toUnixTimestamp64Micro(assumeNotNull(delivered_at)) < {t_us:Int64}
      AND toUnixTimestamp64Micro(assumeNotNull(queued_at)) < {t_us:Int64}
      AND toUnixTimestamp64Micro(assumeNotNull(queued_at)) >= {t_us:Int64} - {window_us:Int64}
    GROUP BY country, operator
)
ORDER BY country, operator
