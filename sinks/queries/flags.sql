-- flags: messages kept under the acceptance policy, per flag (README "Acceptance policy"):
-- every counted message (outbound and inbound) once per reason it carries (message_totals:
-- closed days from message_rollup, open days grouped from messages_by_day).
SELECT
    flag,
    sum(messages) AS messages
FROM message_totals
ARRAY JOIN flags AS flag
WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
GROUP BY flag
ORDER BY flag
