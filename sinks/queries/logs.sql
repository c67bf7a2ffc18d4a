-- logs: the message log (outbound and inbound), oldest first: (time, umid), time = submission
-- (queued_at), else rejection, else the first event (MOs, orphan receipts).
-- Without reading every message:
-- 1. per day, the counted messages and their earliest and latest time, from message_totals
--    (closed days and sealed hours from roll-ups). Walking the days in order until {limit}
--    counted messages are reached gives a time T: at least {limit} messages are at or before
--    it, so every row of the answer is (T = NULL when fewer exist);
-- 2. candidates: the counted messages at or before T of the days whose earliest time is at or
--    before T (messages_by_day, pruned by day and hour: a counted message's time is the one
--    that gives its day and hour), and the uncounted ones (messages_uncounted, a small table:
--    orphans and events ahead of their request) at or before T;
-- 3. the first {limit} candidates by (time, umid), then the full rows of only those umids from
--    `messages` (a primary-key lookup).
WITH
(
    SELECT (
        if(sum(n) >= {limit:UInt64}, maxIf(hi, before < {limit:UInt64}), NULL),
        arrayFilter((d, l) -> sum(n) < {limit:UInt64}
                              OR l <= maxIf(hi, before < {limit:UInt64}),
                    groupArray(day), groupArray(lo)))
    FROM
    (
        SELECT day, n, lo, hi,
               sum(n) OVER (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                   - n AS before
        FROM
        (
            SELECT day, sum(messages) AS n, min(first_at) AS lo, max(last_at) AS hi
            FROM message_totals
            WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
              AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
              AND ({country:String} = '' OR country = {country:String})
              AND ({operator:String} = '' OR operator = {operator:String})
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
        WHERE has(cut.2, day)
          AND (cut.1 IS NULL OR at <= cut.1
               AND (day < toDate(cut.1) OR hour <= toHour(cut.1)))
          AND day BETWEEN {date_from:Date} AND {date_to:Date}
          AND ({subaccount:String} = '' OR subaccount_id = {subaccount:String})
          AND ({country:String} = '' OR country = {country:String})
          AND ({operator:String} = '' OR operator = {operator:String})
        UNION ALL
        SELECT umid, coalesce(queued_at, rejected_at, first_event_at) AS at
        FROM messages_uncounted FINAL
        WHERE (cut.1 IS NULL OR at <= cut.1)
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
