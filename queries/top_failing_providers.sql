-- title: Top failing SAML providers
-- question: Which SAML providers fail, with which classes, and for how many people?
SELECT
    account_id,
    provider_name,
    failure_class,
    count(*) AS failures,
    count(DISTINCT session_name) AS people,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen
FROM events
WHERE outcome = 'failure' AND provider_name IS NOT NULL
GROUP BY account_id, provider_name, failure_class
ORDER BY failures DESC, account_id, provider_name, failure_class
LIMIT 30
