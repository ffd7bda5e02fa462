-- title: First and last seen of every failure class
-- question: Which classes of failure occur, since when, until when, and on how many days?
SELECT
    stage,
    failure_class,
    count(*) AS failures,
    count(DISTINCT session_name) AS people,
    count(DISTINCT date) AS days,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen
FROM events
WHERE outcome = 'failure'
GROUP BY stage, failure_class
ORDER BY failures DESC, stage, failure_class
