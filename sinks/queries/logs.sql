-- logs: the message log (outbound and inbound), oldest first: (time, umid), time = submission
-- (queued_at), else rejection, else the first event (MOs, orphan receipts).
-- A counted message (messages_by_day) lies in its day and hour: both come from the time that
-- orders it (smsflow.contribution: the request's queued_at, an MO's receipt time). So the
-- log needs no exact count of anything, only lower bounds, without reading every message:
-- 1. per day, a lower bound on its counted messages and a time hi by which that many exist:
--    the day roll-up's and the sealed hours' fresh groups (message_rollup,
--    message_rollup_hourly; each alone is a lower bound: a counted message never leaves its
--    day and keeps its time and subaccount; when it changes group (an operator learnt from a
--    receipt), its day or hour is marked stale, and a stale day or hour backs no count; a
--    recompute only adds, a group being recomputed reads as absent), the larger of the two.
--    No count for a day a retention TTL may be deleting (its day + the TTL's days of
--    messages_by_day is at most a day ahead; the roll-ups are kept): those rows are
--    candidates still, but they no longer back the cut.
--    Walking the days in order until {limit} messages are backed gives a time T: at least
--    {limit} messages are at or before it, so every row of the answer is (T = NULL when the
--    bounds never reach {limit}: no cut);
-- 2. candidates: the counted messages at or before T (messages_by_day, pruned by day and hour)
--    and the uncounted ones (messages_uncounted, a small table: orphans and events ahead of
--    their request) at or before T;
-- 3. the first {limit} candidates by (time, umid), then the full rows of only those umids from
--    `messages` (a primary-key lookup).
WITH
(
    SELECT if(n = 0, toDate('1970-01-01'), today() - n + 2)
    FROM
    (
        SELECT max(toUInt32OrZero(extract(engine_full, 'TTL day \\+ toIntervalDay\\((\\d+)\\)')))
            AS n
        FROM system.tables
        WHERE database = currentDatabase()
          AND name IN ('messages_by_day', 'messages_by_day_local')
    )
) AS intact_from,
(
    SELECT if(sum(n) >= {limit:UInt64}, maxIf(hi, before < {limit:UInt64}), NULL)
    FROM
    (
        SELECT day, n, hi,
               sum(n) OVER (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                   - n AS before
        FROM
        (
            SELECT day, max(day_n) AS n, argMax(day_hi, day_n) AS hi
            FROM
            (
                SELECT day, sum(messages) AS day_n, max(last_at) AS day_hi
                FROM message_rollup FINAL
                WHERE day >= intact_from
                  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
                  AND day BETWEEN {date_from:Date} AND {date_to:Date}
                  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
                  AND ({country:String} = '' OR country = {country:String})
                  AND ({operator:String} = '' OR operator = {operator:String})
                GROUP BY day
                UNION ALL
                SELECT day, sum(messages) AS day_n, max(last_at) AS day_hi
                FROM message_rollup_hourly FINAL
                WHERE day >= intact_from
                  AND day NOT IN (SELECT day FROM daily_rollup_stale FINAL WHERE stale = 1)
                  AND (day, hour) NOT IN
                      (SELECT day, hour FROM rollup_stale_hours FINAL WHERE stale = 1)
                  AND day BETWEEN {date_from:Date} AND {date_to:Date}
                  AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
                  AND ({country:String} = '' OR country = {country:String})
                  AND ({operator:String} = '' OR operator = {operator:String})
                GROUP BY day
            )
            GROUP BY day
        )
    )
) AS cut,
top AS
(
    SELECT umid AS top_umid
    FROM
    (
        SELECT umid, coalesce(queued_at, rejected_at, first_event_at) AS at
        FROM messages_by_day FINAL
        WHERE (cut IS NULL OR at <= cut AND day <= toDate(cut)
               AND (day < toDate(cut) OR hour <= toHour(cut)))
          AND day BETWEEN {date_from:Date} AND {date_to:Date}
          AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
          AND ({country:String} = '' OR country = {country:String})
          AND ({operator:String} = '' OR operator = {operator:String})
        UNION ALL
        SELECT umid, coalesce(queued_at, rejected_at, first_event_at) AS at
        FROM messages_uncounted FINAL
        WHERE (cut IS NULL OR at <= cut)
          AND day BETWEEN {date_from:Date} AND {date_to:Date}
          AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
          AND ({country:String} = '' OR country = {country:String})
          AND ({operator:String} = '' OR operator = {operator:String})
    )
    ORDER BY at, toString(umid)
    LIMIT {limit:UInt64}
)
SELECT
    coalesce(queued_at, rejected_at, first_event_at) AS at,
    direction,
    subaccount_id,
    toString(m.umid) AS umid,
    destination,
    source,
    origin,
    country,
    operator,
    cost,
    currency,
    state
FROM messages AS m FINAL
WHERE m.umid IN (SELECT top_umid FROM top)
ORDER BY at, umid
LIMIT {limit:UInt64}
