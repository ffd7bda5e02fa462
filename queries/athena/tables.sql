-- Athena (engine v3) tables over a fedtrail dataset copied to S3 with
-- upload.sh, so Athena and Trino read exactly the Parquet files fedtrail
-- writes. Replace s3://BUCKET/PREFIX with your location and run each
-- statement (Athena runs one statement at a time). events uses partition
-- projection on date: no MSCK REPAIR, no crawler. The saved queries in
-- queries/*.sql run here unchanged except for their :parameters (write the
-- values as TIMESTAMP '2026-05-26 08:00:00 UTC').
--
-- Written from the Parquet schema fedtrail writes; not run against a real
-- Athena here (no AWS account in CI).

CREATE EXTERNAL TABLE IF NOT EXISTS events (
    event_time timestamp,
    event_id string,
    account_id string,
    region string,
    stage string,
    event_source string,
    event_name string,
    outcome string,
    failure_class string,
    error_code string,
    error_message string,
    role_arn string,
    role_name string,
    provider_arn string,
    provider_name string,
    session_name string,
    user_name string,
    issuer string,
    audience string,
    duration_seconds bigint,
    connect_instance_id string,
    endpoint_type string,
    source_ip string,
    user_agent string,
    source_object string
)
PARTITIONED BY (`date` string)
STORED AS PARQUET
LOCATION 's3://BUCKET/PREFIX/events/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.date.type' = 'date',
    'projection.date.format' = 'yyyy-MM-dd',
    'projection.date.range' = '2020-01-01,NOW',
    'projection.date.interval' = '1',
    'projection.date.interval.unit' = 'DAYS',
    'storage.location.template' = 's3://BUCKET/PREFIX/events/date=${date}/'
);

CREATE EXTERNAL TABLE IF NOT EXISTS failures (
    account_id string,
    region string,
    stage string,
    failure_class string,
    error_code string,
    role_arn string,
    provider_arn string,
    failures bigint,
    distinct_sessions bigint,
    distinct_source_ips bigint,
    first_seen timestamp,
    last_seen timestamp,
    sample_message string
)
STORED AS PARQUET
LOCATION 's3://BUCKET/PREFIX/failures/';

CREATE EXTERNAL TABLE IF NOT EXISTS timeline (
    bucket_start timestamp,
    stage string,
    failure_class string,
    attempts bigint,
    failures bigint
)
STORED AS PARQUET
LOCATION 's3://BUCKET/PREFIX/timeline/';

CREATE EXTERNAL TABLE IF NOT EXISTS incidents (
    incident_id string,
    `start` timestamp,
    `end` timestamp,
    minutes bigint,
    stage string,
    dominant_class string,
    dominant_share double,
    failures bigint,
    attempts bigint,
    affected_sessions bigint,
    peak_bucket_failures bigint,
    baseline_bucket_failures double,
    accounts array<string>,
    roles array<string>,
    providers array<string>,
    regions array<string>,
    suspected_change_id string,
    suspected_change_name string,
    suspected_change_time timestamp,
    suspected_change_account_id string,
    suspected_change_target string,
    suspected_change_reason string,
    recovered_by_change_id string,
    recovered_by_change_name string,
    recovered_by_change_time timestamp,
    recovered_by_change_account_id string,
    recovered_by_change_target string,
    recovered_by_change_reason string
)
STORED AS PARQUET
LOCATION 's3://BUCKET/PREFIX/incidents/';

CREATE EXTERNAL TABLE IF NOT EXISTS findings (
    finding string,
    severity string,
    subject string,
    account_id string,
    failure_class string,
    evidence_count bigint,
    first_seen timestamp,
    last_seen timestamp,
    detail string,
    time_to_recovery_minutes bigint,
    related_change_id string,
    related_change_name string,
    related_change_time timestamp,
    related_change_account_id string,
    related_change_target string,
    related_change_reason string,
    evidence_event_ids array<string>
)
STORED AS PARQUET
LOCATION 's3://BUCKET/PREFIX/findings/';

CREATE EXTERNAL TABLE IF NOT EXISTS changes (
    event_time timestamp,
    event_id string,
    account_id string,
    region string,
    event_source string,
    event_name string,
    target string,
    target_type string,
    detail string,
    actor string,
    outcome string,
    failure_class string,
    error_code string,
    error_message string,
    source_object string
)
STORED AS PARQUET
LOCATION 's3://BUCKET/PREFIX/changes/';

CREATE EXTERNAL TABLE IF NOT EXISTS objects (
    source string,
    key string,
    bytes bigint,
    records bigint,
    federation_records bigint,
    change_records bigint,
    rejected_records bigint,
    status string,
    reason string
)
STORED AS PARQUET
LOCATION 's3://BUCKET/PREFIX/objects/';
