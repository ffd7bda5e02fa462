-- title: Error messages no known class matched
-- question: Which failures fell through to a catch-all class (sts_other, connect_other, idc_other), and what do they say?
SELECT
    stage,
    failure_class,
    error_code,
    error_message,
    count(*) AS failures,
    count(DISTINCT session_name) AS people,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen
FROM events
WHERE failure_class IN ('sts_other', 'connect_other', 'idc_other')
GROUP BY stage, failure_class, error_code, error_message
ORDER BY failures DESC, stage, failure_class, error_code, error_message
LIMIT 50
