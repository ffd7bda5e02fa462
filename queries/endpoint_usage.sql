-- title: Global vs regional STS endpoint usage
-- question: Which providers sign in through the global or a regional STS endpoint, with which audience, and how often does each fail?
SELECT
    provider_name,
    region,
    coalesce(endpoint_type, '(not recorded)') AS endpoint_type,
    count(*) AS attempts,
    sum(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) AS failures,
    count(DISTINCT audience) AS audiences,
    min(audience) AS an_audience
FROM events
WHERE stage = 'sts'
GROUP BY provider_name, region, coalesce(endpoint_type, '(not recorded)')
ORDER BY provider_name, region, endpoint_type
