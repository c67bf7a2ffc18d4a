-- countries: destination country x operator over the period (key rows with messages only).
-- `total != 0` on daily_totals groups keeps the same rows and sums as on the finer daily_stats
-- groups: a group's total counts the messages whose current contribution is in it (never
-- negative), and a group without any (moved away, or inbound MOs only) adds 0 to every measure
-- shown here.
SELECT
    country,
    operator,
    currency,
    sum(total) AS total,
    sum(chargeable) AS chargeable,
    sum(sent) AS sent,
    sum(delivered) AS delivered,
    sum(undelivered) AS undelivered,
    sum(rejected) AS rejected,
    sum(segments) AS segments,
    sum(cost) AS cost
FROM
(
    SELECT * FROM daily_totals
    WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({operator:String} = '' OR operator = {operator:String})
      AND total != 0
)
GROUP BY country, operator, currency
ORDER BY country, operator, currency
