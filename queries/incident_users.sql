-- title: Users affected inside a window
-- question: Who failed to sign in between two times, how often, with which classes, and through which role? People are named by session name, else user name, else source IP (STS does not record the session name of an assertion it rejects).
-- param start: timestamp, start of the window (inclusive), e.g. 2026-05-26T08:00:00Z
-- param end: timestamp, end of the window (exclusive), e.g. 2026-05-26T11:10:00Z
SELECT
    coalesce(session_name, user_name, source_ip) AS who,
    account_id,
    min(role_name) AS role_name,
    count(*) AS failures,
    count(DISTINCT failure_class) AS classes,
    min(failure_class) AS a_class,
    min(event_time) AS first_failure,
    max(event_time) AS last_failure
FROM events
WHERE outcome = 'failure' AND event_time >= :start AND event_time < :end
GROUP BY coalesce(session_name, user_name, source_ip), account_id
ORDER BY failures DESC, who, account_id
