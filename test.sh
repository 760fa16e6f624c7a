#!/usr/bin/env bash
# All tests: the workspace (unit, property and integration tests; storage
# tests also on PostgreSQL when LINLI_TEST_PG_URL is set), then the pages
# end to end in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --workspace
bash e2e/run.sh
