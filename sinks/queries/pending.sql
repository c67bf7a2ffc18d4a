-- pending: DLR coverage per operator. Sent = state sent|delivered|undelivered|read; a final
-- receipt = state delivered|undelivered|read. Sent messages without one are bucketed by age
-- = {at_us} - queued_at (submission): < 1 h, 1-6 h, 6-24 h, 24-48 h, expired (>= 48 h; the
-- platform stops looking for receipts 48 h after sending). A message submitted after `at` is in
-- the first bucket. Queued = accepted and never a receipt (not in the coverage).
SELECT
    operator,
    countIf(state IN ('sent', 'delivered', 'undelivered', 'read')) AS sent,
    countIf(state IN ('delivered', 'undelivered', 'read')) AS final,
    countIf(state = 'sent') AS pending,
    countIf(state = 'sent' AND age_us < 3600000000) AS lt_1h,
    countIf(state = 'sent' AND age_us >= 3600000000 AND age_us < 21600000000) AS h1_6,
    countIf(state = 'sent' AND age_us >= 21600000000 AND age_us < 86400000000) AS h6_24,
    countIf(state = 'sent' AND age_us >= 86400000000 AND age_us < 172800000000) AS h24_48,
    countIf(state = 'sent' AND age_us >= 172800000000) AS expired,
    countIf(state = 'queued') AS queued
FROM
(
    SELECT
        operator,
        state,
        {at_us:Int64} - toUnixTimestamp64Micro(assumeNotNull(queued_at)) AS age_us
    FROM messages FINAL
    WHERE direction = 'OUTBOUND' AND counted AND queued_at IS NOT NULL
      AND day BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({operator:String} = '' OR operator = {operator:String})
)
GROUP BY operator
HAVING sent + queued > 0
ORDER BY operator
