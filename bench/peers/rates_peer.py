"""Rates for all units with DuckDB, from the CSV `linli gen --rates-csv`
wrote beside the very rows linli stored: the same formulas as linli's
reference query (crates/store/src/rates.rs, COUNTS). Prints JSON."""
import json
import sys
import time

import duckdb

csv, from_ms, to_ms, now_ms, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
con = duckdb.connect()
t = time.perf_counter()
con.execute(
    "CREATE TABLE service_case AS SELECT * FROM read_csv(?, header = true, columns = {"
    "'state': 'VARCHAR', 'resolution': 'VARCHAR', 'rating': 'VARCHAR', 'unit_id': 'BIGINT', 'scope_path': 'VARCHAR',"
    "'created_at': 'BIGINT', 'response_due': 'BIGINT', 'responded_at': 'BIGINT', 'due_at': 'BIGINT', 'closed_at': 'BIGINT',"
    "'rework_count': 'INTEGER', 'extension_count': 'INTEGER'})",
    [csv],
)
load_s = time.perf_counter() - t
rows = con.execute("SELECT COUNT(*) FROM service_case").fetchone()[0]

SQL = """SELECT unit_id,
    COUNT(*) AS requests,
    SUM(CASE WHEN responded_at IS NOT NULL AND (response_due IS NULL OR responded_at <= response_due) THEN 1 ELSE 0 END),
    SUM(CASE WHEN state = 'refused' THEN 1 ELSE 0 END),
    SUM(CASE WHEN resolution IN ('answered', 'resolved') THEN 1 ELSE 0 END),
    SUM(CASE WHEN rating IS NOT NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN rating IN ('satisfied', 'basically_satisfied') THEN 1 ELSE 0 END),
    SUM(CASE WHEN due_at IS NOT NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN due_at IS NOT NULL AND (due_at < $now OR closed_at IS NOT NULL) THEN 1 ELSE 0 END),
    SUM(CASE WHEN due_at IS NOT NULL AND closed_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END),
    SUM(CASE WHEN due_at IS NOT NULL AND closed_at IS NOT NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN due_at IS NOT NULL AND closed_at IS NOT NULL AND rework_count > 0 THEN 1 ELSE 0 END),
    SUM(CASE WHEN extension_count > 0 THEN 1 ELSE 0 END)
 FROM service_case
 WHERE created_at >= $from AND created_at < $to AND state <> 'merged'
 GROUP BY unit_id"""

best, out = None, None
for _ in range(repeat):
    t = time.perf_counter()
    out = con.execute(SQL, {"now": now_ms, "from": from_ms, "to": to_ms}).fetchall()
    s = time.perf_counter() - t
    best = s if best is None else min(best, s)
totals = [sum(int(r[i] or 0) for r in out) for i in range(1, 13)]
print(json.dumps({
    "workload": "rates_duckdb",
    "duckdb": duckdb.__version__,
    "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
    "rows": rows,
    "units": len(out),
    "load_s": load_s,
    "query_s": best,
    "totals": totals,
}))
