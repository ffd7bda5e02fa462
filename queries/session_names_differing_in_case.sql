-- title: Session names that differ only in case
-- question: Which people reach AWS under more than one spelling of their name (JDoe vs jdoe), and does one spelling fail?
SELECT
    account_id,
    lower(session_name) AS name,
    count(DISTINCT session_name) AS spellings,
    min(session_name) AS first_spelling,
    max(session_name) AS last_spelling,
    sum(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) AS failures,
    count(*) AS events
FROM events
WHERE session_name IS NOT NULL
GROUP BY account_id, lower(session_name)
HAVING count(DISTINCT session_name) > 1
ORDER BY failures DESC, account_id, name
