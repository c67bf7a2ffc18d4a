-- dashboard: per day and destination country (folded to per-day rows and a period total).
SELECT
    day,
    currency,
    country,
    sum(total) AS total,
    sum(chargeable) AS chargeable,
    sum(delivered) AS delivered,
    sum(cost) AS cost
FROM daily_totals
WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
GROUP BY day, currency, country
ORDER BY day, currency, country
