-- errors: undelivered and rejected messages by error code and message per destination country
-- x operator, beside that operator's total traffic (every outbound message of the key).
-- Rejected messages carry the platform's reason as error message and no code.
WITH base AS
(
    SELECT country, operator, state, error_code, error_message
    FROM messages FINAL
    WHERE direction = 'OUTBOUND' AND counted
      AND day BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({operator:String} = '' OR operator = {operator:String})
)
SELECT
    b.country AS country,
    b.operator AS operator,
    b.state AS state,
    b.error_code AS error_code,
    b.error_message AS error_message,
    count() AS messages,
    any(t.total) AS operator_total
FROM base AS b
INNER JOIN
(
    SELECT country, operator, count() AS total FROM base GROUP BY country, operator
) AS t ON t.country = b.country AND t.operator = b.operator
WHERE b.state IN ('undelivered', 'rejected')
GROUP BY country, operator, state, error_code, error_message
ORDER BY country, operator, state, error_code NULLS FIRST, error_message
