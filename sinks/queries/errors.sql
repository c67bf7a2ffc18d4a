-- errors: undelivered and rejected messages by error code and message per destination country
-- x operator, beside that operator's total traffic (every outbound message of the key).
-- Rejected messages carry the platform's reason as error message and no code.
-- Reads message_totals (closed days pre-aggregated in message_rollup, open days grouped from
-- messages_by_day): every outbound group by its error; the operator total is a window sum over
-- the groups of its country x operator, taken before the failed ones are picked.
SELECT country, operator, state, error_code, error_message, failed AS messages,
    operator_total
FROM
(
    SELECT
        country,
        operator,
        state,
        error_code,
        error_message,
        sum(messages) AS failed,
        sum(sum(messages)) OVER (PARTITION BY country, operator) AS operator_total
    FROM message_totals
    WHERE direction = 'OUTBOUND'
      AND day BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
      AND ({country:String} = '' OR country = {country:String})
      AND ({operator:String} = '' OR operator = {operator:String})
    GROUP BY country, operator, state, error_code, error_message
)
WHERE state IN ('undelivered', 'rejected')
ORDER BY country, operator, state, error_code NULLS FIRST, error_message
