#!/usr/bin/env bash
# Benchmark harness: builds release, generates data with `linli gen`, runs
# each workload beside its peers in this one invocation, writes a report.
#
#   bash bench/run.sh           full run, writes BENCHMARKS.md (by hand, ~30 min)
#   bash bench/run.sh --quick   small sizes (CI), writes bench/out/BENCHMARKS.quick.md
#   bash bench/run.sh --big     also the 21,000,000-people generation into SQLite (~15 min more)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mode=full
big=0
for a in "$@"; do
  case "$a" in
    --quick) mode=quick ;;
    --big) big=1 ;;
    *) echo "usage: bench/run.sh [--quick] [--big]" >&2; exit 2 ;;
  esac
done
out="$root/bench/out"
rm -rf "$out"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
pg_url="${LINLI_BENCH_PG_URL:-${LINLI_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}}"

if [ "$mode" = quick ]; then
  people=20000; points=100000; repeat=1; intake=1000; cases=200000; pg_cases=200000; page_repeat=3; ledger_rows=5000
else
  people=1000000; points=1000000; repeat=5; intake=20000; cases=20000000; pg_cases=2000000; page_repeat=20; ledger_rows=200000
fi
# A year of cases ending on a fixed day, so every run rates the same rows;
# rated: the whole months 2025-11 … 2026-10 (Beijing).
until=2026-11-01; rate_from=202511; rate_to=202611
from_ms=1761926400000; to_ms=1793462400000

echo "== build (release)"
cargo build --release -q -p linli -p linli-bench
linli="$root/target/release/linli"
bench="$root/target/release/linli-bench"
export LINLI_KEY_FILE="$out/bench.key"
"$linli" keygen > "$LINLI_KEY_FILE"

record() { # name, then the JSON line from measure.py on stdin
  python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["name"]=sys.argv[1]; print(json.dumps(d))' "$1" >> "$results"
}

echo "== peers venv"
peers=1
if ! bash bench/setup_peers.sh > "$out/peers-setup.log" 2>&1; then
  peers=0
  echo "peers could not be installed (see $out/peers-setup.log); linli figures only"
fi
py="$root/bench/.venv/bin/python"

echo "== registry generation and load: $people people"
python3 bench/measure.py "$linli" gen --people "$people" --seed 1 --out "$out/gen" | record gen_files
python3 bench/measure.py "$linli" gen --people "$people" --seed 1 --db "sqlite://$out/load.db" | record load_sqlite
echo "== a real-shaped ledger through preview and import: $ledger_rows rows, .xlsx and GBK CSV"
python3 bench/measure.py "$bench" ledger-file --rows "$ledger_rows" --grids "$out/gen/grids.geojson" --out "$out/ledger" | record ledger_file
for fmt in xlsx csv; do
  ldb="sqlite://$out/ledger-$fmt.db"
  "$linli" import grids "$out/gen/grids.geojson" --db "$ldb" > /dev/null
  python3 bench/measure.py "$linli" import registry "$out/ledger/ledger.$fmt" --dry-run --db "$ldb" | record "ledger_preview_$fmt"
  python3 bench/measure.py "$linli" import registry "$out/ledger/ledger.$fmt" --db "$ldb" | record "ledger_import_$fmt"
  rm -f "$out/ledger-$fmt.db"*
done
if [ "$peers" = 1 ]; then
  python3 bench/measure.py "$py" bench/peers/ledger_peer.py "$out/ledger" | record ledger_pandas
fi

schema="bench_$$"
pg_schema_url="$pg_url?options=-c%20search_path%3D$schema"
psql "$pg_url" -q -c "CREATE SCHEMA $schema"
python3 bench/measure.py "$linli" gen --people "$people" --seed 1 --db "$pg_schema_url" | record load_postgres

echo "== rates for all units over a year of cases: $cases (SQLite, DuckDB), $pg_cases (PostgreSQL)"
python3 bench/measure.py "$linli" gen --people 0 --cases "$cases" --until "$until" --seed 1 --db "sqlite://$out/load.db" --rates-csv "$out/rates.csv" | record cases_load_sqlite
python3 bench/measure.py "$bench" rates --db "sqlite://$out/load.db" --from "$rate_from" --to "$rate_to" --repeat "$repeat" --scan | record rates_sqlite
if [ "$peers" = 1 ]; then
  python3 bench/measure.py "$py" bench/peers/rates_peer.py "$out/rates.csv" "$from_ms" "$to_ms" "$to_ms" "$repeat" | record rates_duckdb
fi
echo "== pages and lists for each role (SQLite, $people people, $cases cases)"
python3 bench/measure.py "$bench" pages --db "sqlite://$out/load.db" --repeat "$page_repeat" | record pages_sqlite
rm -f "$out"/load.db* "$out/rates.csv"
python3 bench/measure.py "$linli" gen --people 0 --cases "$pg_cases" --until "$until" --seed 1 --db "$pg_schema_url" | record cases_load_postgres
python3 bench/measure.py "$bench" rates --db "$pg_schema_url" --from "$rate_from" --to "$rate_to" --repeat "$repeat" --scan | record rates_postgres
echo "== pages and lists for each role (PostgreSQL, $people people, $pg_cases cases)"
python3 bench/measure.py "$bench" pages --db "$pg_schema_url" --repeat "$page_repeat" | record pages_postgres
psql "$pg_url" -q -c "DROP SCHEMA $schema CASCADE"

echo "== point-in-grid: 2,325 grids, $points points"
python3 bench/measure.py "$bench" pip --grids 2325 --points "$points" --seed 1 --out "$out/pip" --repeat "$repeat" | record pip_linli
if [ "$peers" = 1 ]; then
  python3 bench/measure.py "$py" bench/peers/pip_peer.py "$out/pip" "$repeat" | record pip_peers
fi
echo "== batch locate end to end: $points points from a CSV to a CSV"
"$linli" import grids "$out/pip/grids.geojson" --db "sqlite://$out/pip.db" > /dev/null
python3 bench/measure.py "$linli" locate --input "$out/pip/points.csv" --output "$out/pip/located.csv" --db "sqlite://$out/pip.db" | record locate_cli
if [ "$peers" = 1 ]; then
  python3 bench/measure.py "$py" bench/peers/locate_peer.py "$out/pip" | record locate_geopandas
fi
rm -f "$out/pip.db"*

echo "== case intake over HTTP vs the raw insert ceiling: $intake requests, 16 at a time"
python3 bench/measure.py "$bench" intake --db "sqlite://$out/intake.db" --requests "$intake" --concurrency 16 | record intake_sqlite
rm -f "$out"/intake.db*
python3 bench/measure.py "$bench" intake --db "$pg_url" --requests "$intake" --concurrency 16 | record intake_postgres

if [ "$big" = 1 ]; then
  echo "== Chengdu scale: 21,000,000 people and 24,000,000 cases into SQLite, then the pages"
  python3 bench/measure.py "$linli" gen --people 21000000 --cases 24000000 --until "$until" --seed 1 --db "sqlite://$out/big.db" | record load_sqlite_21m
  ls -l "$out/big.db" | awk '{print "{\"bytes\": " $5 "}"}' | record big_db_size
  python3 bench/measure.py "$bench" pages --db "sqlite://$out/big.db" --repeat 20 | record pages_sqlite_21m
  rm -f "$out"/big.db*
fi

if [ "$mode" = quick ]; then
  report="$out/BENCHMARKS.quick.md"
else
  report="$root/BENCHMARKS.md"
fi
extra=""
if [ "$mode" = full ] && [ "$big" = 0 ]; then
  extra="$root/bench/results-21m.jsonl"
fi
python3 bench/report.py "$results" "$mode" $extra > "$report"
echo "== report: $report"
cat "$report"
