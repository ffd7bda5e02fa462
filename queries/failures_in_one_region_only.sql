-- title: Failures present in one region only
-- question: Which role fails with a class in exactly one region while it succeeds in others (SCP region lists, STS disabled, wrong regional URL)?
WITH failing AS (
    SELECT account_id, role_name, failure_class,
        min(region) AS region,
        count(DISTINCT region) AS regions,
        count(*) AS failures,
        min(event_time) AS first_seen,
        max(event_time) AS last_seen
    FROM events
    WHERE outcome = 'failure' AND role_name IS NOT NULL
    GROUP BY account_id, role_name, failure_class
),
succeeding AS (
    SELECT account_id, role_name, region, count(*) AS successes
    FROM events
    WHERE outcome = 'success' AND role_name IS NOT NULL
    GROUP BY account_id, role_name, region
)
SELECT
    f.account_id,
    f.role_name,
    f.failure_class,
    f.region,
    f.failures,
    sum(s.successes) AS successes_elsewhere,
    f.first_seen,
    f.last_seen
FROM failing f
JOIN succeeding s ON f.account_id = s.account_id AND f.role_name = s.role_name
WHERE f.regions = 1 AND s.region <> f.region AND f.failures >= 5
GROUP BY f.account_id, f.role_name, f.failure_class, f.region, f.failures, f.first_seen, f.last_seen
ORDER BY f.failures DESC, f.account_id, f.role_name, f.failure_class
