-- errors: undelivered and rejected messages by error code and message per destination country
-- x operator, beside that operator's total traffic (every outbound message of the key).
-- Rejected messages carry the platform's reason as error message and no code.
-- One pass: every outbound message is grouped by its error; the operator total is a window
-- sum over the groups of its country x operator, taken before the failed ones are picked.
SELECT country, operator, state, error_code, error_message, messages, operator_total
FROM
(
    SELECT
        country,
        operator,
        state,
        error_code,
        error_message,
        count() AS messages,
        sum(count()) OVER (PARTITION BY country, operator) AS operator_total
    FROM messages FINAL
    WHERE direction = 'OUTBOUND' AND counted
      AND day BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({operator:String} = '' OR operator = {operator:String})
    GROUP BY country, operator, state, error_code, error_message
)
WHERE state IN ('undelivered', 'rejected')
ORDER BY country, operator, state, error_code NULLS FIRST, error_message
