-- title: Top failing roles
-- question: Which roles fail most often, through which provider, and how many people does each lock out?
SELECT
    account_id,
    role_name,
    provider_name,
    count(*) AS failures,
    count(DISTINCT session_name) AS people,
    count(DISTINCT failure_class) AS classes,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen
FROM events
WHERE outcome = 'failure' AND role_name IS NOT NULL
GROUP BY account_id, role_name, provider_name
ORDER BY failures DESC, account_id, role_name, provider_name
LIMIT 20
