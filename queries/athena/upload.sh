#!/usr/bin/env bash
# Copies a fedtrail dataset to S3 in the layout tables.sql expects: Athena
# reads every file under a table's LOCATION, so each top-level table goes to
# a folder of its own; events/ keeps its date=YYYY-MM-DD partitions.
#
#   queries/athena/upload.sh reports s3://bucket/fedtrail
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 DATASET_DIR s3://BUCKET/PREFIX" >&2
    exit 2
fi
data=${1%/}
dest=${2%/}
if [ ! -f "$data/run.json" ]; then
    echo "$data is not a fedtrail dataset (no run.json)" >&2
    exit 2
fi
aws s3 sync --delete "$data/events" "$dest/events"
for table in failures timeline incidents findings changes objects; do
    aws s3 cp "$data/$table.parquet" "$dest/$table/$table.parquet"
done
