#!/usr/bin/env bash
# The fault suite (issue 12): kill -9 of a real `linli serve` under intake
# on SQLite and PostgreSQL (ROUNDS rounds each, resends after each kill),
# a full disk on SQLite (a real tmpfs; needs root), a rollup rebuild under
# intake on both databases. Prints one FAULTS line per finding and writes
# them to bench/out/faults.txt.
#
#   bash bench/faults.sh [ROUNDS]     (default 50; PostgreSQL from LINLI_TEST_PG_URL)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-50}"
export LINLI_TEST_PG_URL="${LINLI_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
mkdir -p bench/out
{
  echo "# fault suite, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${rounds} kill rounds per database"
  LINLI_FAULT_ROUNDS="$rounds" cargo test -q -p linli --test cli kill_9 -- --nocapture 2>&1 | grep -oE 'FAULTS.*|panicked.*|test result.*'
  cargo test -q -p linli-store --test it faults -- --nocapture --test-threads 1 2>&1 | grep -oE 'FAULTS.*|panicked.*|test result.*'
} | tee bench/out/faults.txt
! grep -q panicked bench/out/faults.txt
