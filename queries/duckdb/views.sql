-- DuckDB views over a fedtrail dataset, local or in S3, so the saved
-- queries' SQL (and your own) runs in DuckDB on exactly the files fedtrail
-- writes. Set the dataset's location first, then read this file:
--
--   duckdb -c "SET VARIABLE fedtrail = 'reports';" -c ".read queries/duckdb/views.sql" -c "SELECT * FROM incidents"
--   (in S3: SET VARIABLE fedtrail = 's3://bucket/fedtrail/reports'; after INSTALL httpfs; LOAD httpfs;
--    and CREATE SECRET (TYPE s3, PROVIDER credential_chain);)
--
-- Timestamps are TIMESTAMP WITH TIME ZONE (UTC); events has the Hive
-- partition column date.

CREATE OR REPLACE VIEW events AS
    SELECT * FROM read_parquet(getvariable('fedtrail') || '/events/*/*.parquet', hive_partitioning = true, hive_types = {'date': DATE});
CREATE OR REPLACE VIEW failures AS SELECT * FROM read_parquet(getvariable('fedtrail') || '/failures.parquet');
CREATE OR REPLACE VIEW timeline AS SELECT * FROM read_parquet(getvariable('fedtrail') || '/timeline.parquet');
CREATE OR REPLACE VIEW incidents AS SELECT * FROM read_parquet(getvariable('fedtrail') || '/incidents.parquet');
CREATE OR REPLACE VIEW findings AS SELECT * FROM read_parquet(getvariable('fedtrail') || '/findings.parquet');
CREATE OR REPLACE VIEW changes AS SELECT * FROM read_parquet(getvariable('fedtrail') || '/changes.parquet');
CREATE OR REPLACE VIEW objects AS SELECT * FROM read_parquet(getvariable('fedtrail') || '/objects.parquet');
