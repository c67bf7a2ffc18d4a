-- conversions: verification (OTP) messages per day of sending, converted = OTP feedback seen;
-- cost = cost of those verification messages. Reads message_totals (see errors.sql).
SELECT
    day,
    currency,
    sum(messages) AS verification_sent,
    sum(converted) AS converted,
    sumIf(messages, state != 'rejected') AS chargeable,
    sum(cost) AS cost
FROM message_totals
WHERE direction = 'OUTBOUND' AND verification
  AND day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
GROUP BY day, currency
ORDER BY day, currency
