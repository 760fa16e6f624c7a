"""The ledger import section of BENCHMARKS.md (issue 14)."""
import json
import re


def _summary(run):
    """(rows, figures) from `linli import registry` output."""
    out = run["stdout"]
    m = re.search(r"(?:dry run, nothing written: |imported )(\d+) rows", out)
    return int(m.group(1)) if m else None


def section(runs):
    lines = []
    w = lines.append
    if "ledger_import_xlsx" not in runs:
        return lines
    w("## Ledger import (issue 14)")
    w("")
    f = runs.get("ledger_file")
    n = json.loads(f["stdout"])["rows"] if f else None
    w(f"A real-shaped population ledger of {n:,} people (`linli-bench ledger-file`): a title and a date row, a two-row merged header "
      "with the names ledgers use (身份证号码, 联系电话 …), compound cells merged down their rows (blank below the first in the CSV), "
      "full-width digits, spaces in ID numbers, 15-digit ID numbers, two numbers in a cell, Chinese dates, 男性, 703室, two families in a flat, "
      "total and signature rows. Each file goes through the preview (`--dry-run`: every check and every write, then rolled back) and the "
      "import into a fresh SQLite database holding only the grids. Wall time of the whole command (reading, checking, writing, "
      "and printing the report); peak RSS of the process. Target: ≥ 20,000 rows/s and < 300 MB.")
    w("")
    w("| file | step | rows | seconds | rows/s | peak RSS |")
    w("|---|---|---:|---:|---:|---:|")
    for fmt, label in [("xlsx", ".xlsx"), ("csv", "GBK CSV")]:
        for step in ["preview", "import"]:
            r = runs.get(f"ledger_{step}_{fmt}")
            if not r:
                continue
            rows = _summary(r) or n
            ok = "" if r["rc"] == 0 else f" (exit {r['rc']})"
            w(f"| {label} | {step}{ok} | {rows:,} | {r['wall_s']:.1f} | {rows / r['wall_s']:,.0f} | {r['max_rss_kib'] / 1024:,.0f} MiB |")
    p = runs.get("ledger_pandas")
    if p:
        P = json.loads(p["stdout"])
        w("")
        w(f"Beside it, pandas {P['pandas_version']} only reading the same files (no checks, no normalising, no writes): "
          f".xlsx {P['xlsx_read_s']:.1f} s ({P['xlsx_rows']:,} rows, openpyxl), GBK CSV {P['csv_read_s']:.2f} s; peak RSS {p['max_rss_kib'] / 1024:,.0f} MiB.")
    w("")
    w("Commands: `linli-bench ledger-file --rows N --grids bench/out/gen/grids.geojson --out bench/out/ledger`, "
      "`linli import grids bench/out/gen/grids.geojson --db sqlite://L.db`, "
      "`linli import registry bench/out/ledger/ledger.xlsx --dry-run --db sqlite://L.db`, then without `--dry-run`; "
      "`bench/.venv/bin/python bench/peers/ledger_peer.py bench/out/ledger`.")
    w("")
    return lines
