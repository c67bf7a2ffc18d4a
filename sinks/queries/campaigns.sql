-- campaigns: per campaign (messages without a campaign are not listed).
SELECT
    campaign_id,
    currency,
    min(day) AS first_day,
    max(day) AS last_day,
    sum(total) AS total,
    sum(chargeable) AS chargeable,
    sum(sent) AS sent,
    sum(delivered) AS delivered,
    sum(undelivered) AS undelivered,
    sum(rejected) AS rejected,
    sum(cost) AS cost
FROM
(
    SELECT * FROM daily_stats
    WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({operator:String} = '' OR operator = {operator:String})
      AND campaign_id != '' AND total != 0
)
GROUP BY campaign_id, currency
ORDER BY campaign_id, currency
