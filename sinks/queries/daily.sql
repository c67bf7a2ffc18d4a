-- daily: the daily report per UTC day of the send request (late receipts update that day).
-- One row per (day, currency); reports.py folds the currencies into one row per day.
-- daily_totals: closed days from the roll-up (sinks/README.md "Daily roll-up").
SELECT
    day,
    currency,
    sum(total) AS total,
    sum(sent) AS sent,
    sum(chargeable) AS chargeable,
    sum(delivered) AS delivered,
    sum(undelivered) AS undelivered,
    sum(rejected) AS rejected,
    sum(received) AS received,
    sum(cost) AS cost,
    sum(inbound) AS inbound,
    sum(segments) AS segments
FROM daily_totals
WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
GROUP BY day, currency
ORDER BY day, currency
