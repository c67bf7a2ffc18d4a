-- conversions: verification (OTP) messages per day of sending, converted = OTP feedback seen;
-- cost = cost of those verification messages.
SELECT
    day,
    currency,
    count() AS verification_sent,
    countIf(converted) AS converted,
    countIf(state != 'rejected') AS chargeable,
    sum(cost) AS cost
FROM messages FINAL
WHERE direction = 'OUTBOUND' AND counted AND verification
  AND day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
GROUP BY day, currency
ORDER BY day, currency
