-- engage: SMS Engage survey answers; respondents = distinct invitations (umids) answering.
-- Filters apply to the invitation message (its day, subaccount, country, operator).
-- survey_respondents is a window over the answers of the survey (one pass, no self-join);
-- only the invitations that were answered are read from messages (umid is its key).
WITH answered AS
(
    SELECT r.survey_id AS survey_id, r.umid AS umid,
           a.question_id AS question_id, a.question AS question,
           coalesce(a.answer, '') AS answer
    FROM survey_responses AS r FINAL
    ARRAY JOIN r.answers AS a
    LEFT JOIN
    (
        SELECT umid, day, subaccount_id, country, operator FROM messages FINAL
        WHERE umid IN (SELECT umid FROM survey_responses)
    ) AS m ON m.umid = r.umid
    WHERE m.day BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({subaccount:String} = '' OR m.subaccount_id = {subaccount:String})
      AND ({country:String} = '' OR m.country = {country:String})
      AND ({operator:String} = '' OR m.operator = {operator:String})
)
SELECT
    survey_id,
    question_id,
    question,
    answer,
    uniqExact(umid) AS respondents,
    any(survey_respondents) AS survey_respondents
FROM
(
    SELECT survey_id, question_id, question, answer, umid,
           uniqExact(umid) OVER (PARTITION BY survey_id) AS survey_respondents
    FROM answered
)
GROUP BY survey_id, question_id, question, answer
ORDER BY survey_id, question_id, respondents DESC, answer
