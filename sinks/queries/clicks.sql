-- clicks: short-URL clicks per message and link (message day and attributes for filtering).
-- Only the clicked messages are read from messages (umid is its key).
SELECT
    m.day AS day,
    m.subaccount_id AS subaccount_id,
    toString(c.umid) AS umid,
    m.destination AS destination,
    c.short_url AS short_url,
    c.url AS url,
    count() AS clicks,
    min(c.clicked_at) AS first_click,
    max(c.clicked_at) AS last_click
FROM clicks AS c FINAL
LEFT JOIN
(
    SELECT umid, day, subaccount_id, destination, country, operator FROM messages FINAL
    WHERE umid IN (SELECT umid FROM clicks)
) AS m ON m.umid = c.umid
WHERE m.day BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({subaccount:String} = '' OR m.subaccount_id = {subaccount:String})
  AND ({country:String} = '' OR m.country = {country:String})
  AND ({operator:String} = '' OR m.operator = {operator:String})
GROUP BY day, subaccount_id, umid, destination, short_url, url
ORDER BY day, subaccount_id, umid, short_url, url
