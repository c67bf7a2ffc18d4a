-- flags: messages kept under the acceptance policy, per flag (README "Acceptance policy"):
-- every counted message (outbound and inbound) once per reason it carries (flag_totals: closed
-- days and sealed hours from roll-ups, the rest from messages_by_day; sinks/README.md).
SELECT
    flag,
    sum(messages) AS messages
FROM flag_totals
WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
GROUP BY flag
ORDER BY flag
