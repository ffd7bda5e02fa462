-- title: Signature failures per provider since its last metadata update
-- question: For each SAML provider, when was its metadata last uploaded, and how many signature failures came before and after?
WITH updates AS (
    SELECT target AS provider_arn, max(event_time) AS last_update
    FROM changes
    WHERE event_name IN ('UpdateSAMLProvider', 'CreateSAMLProvider') AND outcome = 'success'
    GROUP BY target
),
signature AS (
    SELECT provider_arn, provider_name, event_time
    FROM events
    WHERE failure_class = 'signature_invalid'
)
SELECT
    s.provider_name,
    s.provider_arn,
    u.last_update,
    sum(CASE WHEN u.last_update IS NULL OR s.event_time > u.last_update THEN 1 ELSE 0 END) AS failures_since_update,
    count(*) AS failures_in_all,
    min(s.event_time) AS first_failure,
    max(s.event_time) AS last_failure
FROM signature s
LEFT JOIN updates u ON s.provider_arn = u.provider_arn
GROUP BY s.provider_name, s.provider_arn, u.last_update
ORDER BY failures_since_update DESC, s.provider_arn
