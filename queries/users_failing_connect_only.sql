-- title: Users who pass STS but fail Connect
-- question: Who authenticates with AWS but is refused by Amazon Connect as not onboarded, and did they ever get in?
WITH sts_ok AS (
    SELECT account_id, session_name, count(*) AS sts_successes
    FROM events
    WHERE stage = 'sts' AND outcome = 'success'
    GROUP BY account_id, session_name
),
not_onboarded AS (
    SELECT account_id, connect_instance_id, session_name,
        count(*) AS connect_failures,
        min(event_time) AS first_failure,
        max(event_time) AS last_failure
    FROM events
    WHERE failure_class = 'connect_user_not_onboarded'
    GROUP BY account_id, connect_instance_id, session_name
),
connect_ok AS (
    SELECT account_id, session_name, count(*) AS connect_successes
    FROM events
    WHERE stage = 'connect' AND outcome = 'success'
    GROUP BY account_id, session_name
)
SELECT
    f.account_id,
    f.connect_instance_id,
    f.session_name,
    s.sts_successes,
    f.connect_failures,
    coalesce(c.connect_successes, 0) AS connect_successes,
    f.first_failure,
    f.last_failure
FROM not_onboarded f
JOIN sts_ok s ON f.account_id = s.account_id AND f.session_name = s.session_name
LEFT JOIN connect_ok c ON f.account_id = c.account_id AND f.session_name = c.session_name
ORDER BY f.connect_failures DESC, f.account_id, f.session_name, f.connect_instance_id
