-- title: Incidents with their causes
-- question: Which outages were detected, how long did they last, what most likely caused each and what ended it?
SELECT
    incident_id,
    start,
    "end",
    minutes,
    stage,
    dominant_class,
    failures,
    affected_sessions,
    suspected_change_name,
    suspected_change_target,
    suspected_change_time,
    recovered_by_change_name,
    recovered_by_change_time
FROM incidents
ORDER BY start, stage, dominant_class
