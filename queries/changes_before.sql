-- title: Changes in the hours before a time
-- question: What changed in SAML providers, federation roles, SCPs, Connect users or identity sources shortly before an outage began?
-- param at: timestamp, when the trouble began, e.g. 2026-05-27T02:05:00Z
-- param lookback: span, how far back to look, e.g. 6h
SELECT
    event_time,
    account_id,
    region,
    event_name,
    target,
    detail,
    outcome,
    error_code,
    actor
FROM changes
WHERE event_time <= :at AND event_time >= :at - :lookback
ORDER BY event_time DESC, event_id
