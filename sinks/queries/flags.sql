-- flags: messages kept under the acceptance policy, per flag (README "Acceptance policy"):
-- every counted message (outbound and inbound) once per reason it carries (messages_by_day:
-- the counted messages, pruned by day and subaccount).
SELECT
    flag,
    count() AS messages
FROM messages_by_day FINAL
ARRAY JOIN flags AS flag
WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR country = {country:String})
  AND ({operator:String} = '' OR operator = {operator:String})
GROUP BY flag
ORDER BY flag
