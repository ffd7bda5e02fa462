-- title: Failures by class per hour
-- question: When did each kind of failure happen, hour by hour (UTC)?
SELECT
    strftime(event_time, '%Y-%m-%dT%H:00Z') AS hour,
    stage,
    failure_class,
    count(*) AS failures,
    count(DISTINCT session_name) AS people
FROM events
WHERE outcome = 'failure'
GROUP BY hour, stage, failure_class
ORDER BY hour, failures DESC, stage, failure_class
