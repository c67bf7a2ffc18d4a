-- campaigns: per campaign (messages without a campaign are not listed), from the deduplicated
-- deltas: campaign_totals (closed days pre-aggregated per day x subaccount x campaign x
-- currency in campaign_rollup) when no country or operator filter is given, else the deltas
-- themselves. `total != 0` per campaign x currency x day keeps the same days and sums (see
-- countries.sql).
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
    SELECT
        campaign_id, currency, day,
        sum(total) AS total,
        sum(chargeable) AS chargeable,
        sum(sent) AS sent,
        sum(delivered) AS delivered,
        sum(undelivered) AS undelivered,
        sum(rejected) AS rejected,
        sum(cost) AS cost
    FROM
    (
        SELECT campaign_id, currency, day, total, chargeable, sent, delivered, undelivered,
            rejected, cost
        FROM campaign_totals
        WHERE {country:String} = '' AND {operator:String} = ''
          AND day BETWEEN {date_from:Date} AND {date_to:Date}
          AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
        UNION ALL
        SELECT campaign_id, currency, day, total, chargeable, sent, delivered, undelivered,
            rejected, cost
        FROM daily_deltas FINAL
        WHERE ({country:String} != '' OR {operator:String} != '')
          AND day BETWEEN {date_from:Date} AND {date_to:Date}
          AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
          AND ({country:String} = '' OR country = {country:String})
          AND ({operator:String} = '' OR operator = {operator:String})
          AND campaign_id != ''
    )
    GROUP BY campaign_id, currency, day
    HAVING total != 0
)
GROUP BY campaign_id, currency
ORDER BY campaign_id, currency
