#!/usr/bin/env bash
# Installs the comparison harness's Python peers (DuckDB and ClickHouse's
# chdb) in target/compare-venv; jq comes from the system (apt install jq).
# Then: FEDTRAIL_PYTHON=target/compare-venv/bin/python cargo bench --bench compare
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv target/compare-venv
target/compare-venv/bin/pip install --quiet duckdb chdb
target/compare-venv/bin/python -c "import duckdb, chdb; print('duckdb', duckdb.__version__, 'chdb', chdb.__version__)"
