-- title: Sessions asking for more duration than their role allows
-- question: Who asks for a SessionDuration above the role's maximum, how long, and what does the role grant when it works?
WITH granted AS (
    SELECT account_id, role_name, max(duration_seconds) AS longest_granted_seconds
    FROM events
    WHERE stage = 'sts' AND outcome = 'success'
    GROUP BY account_id, role_name
)
SELECT
    f.account_id,
    f.role_name,
    f.session_name,
    f.duration_seconds AS requested_seconds,
    g.longest_granted_seconds,
    count(*) AS failures,
    min(f.event_time) AS first_seen,
    max(f.event_time) AS last_seen
FROM events f
LEFT JOIN granted g ON f.account_id = g.account_id AND f.role_name = g.role_name
WHERE f.failure_class = 'duration_exceeds_max'
GROUP BY f.account_id, f.role_name, f.session_name, f.duration_seconds, g.longest_granted_seconds
ORDER BY failures DESC, f.account_id, f.role_name, f.session_name, requested_seconds
