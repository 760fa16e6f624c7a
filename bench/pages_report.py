"""The pages section of BENCHMARKS.md (`linli-bench pages`), used by
report.py and on its own: `python3 bench/pages_report.py RESULTS.jsonl`
prints the section for the runs in that file."""
import json
import sys


def pages_table(runs, name, title, w):
    r = runs.get(name)
    if not r:
        return
    P = json.loads(r["stdout"])
    w(f"### {title}")
    w("")
    w(f"Busiest grid and its community, subdistrict and district: `{P['areas']['grid']}`; {P['repeat']} timed requests of each page after one untimed; "
      "time to first byte in ms; a page's second and hundredth page reached by following its own next-page links. Targets: p95 < 100 ms for every page and list, "
      "< 10 ms for `/healthz` and the front page.")
    w("")
    w("| role | page | p50 | p95 | p99 | target met |")
    w("|---|---|---:|---:|---:|---|")
    for row in P["rows"]:
        target = 10 if row["page"] in ("/healthz", "/") else 100
        met = "yes" if row["p95_ms"] < target else f"**no** (> {target} ms)"
        w(f"| {row['role']} | `{row['page']}` | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['p99_ms']:.1f} | {met} |")
    if P.get("exports"):
        w("")
        w("| export | rows | MiB | seconds | rows/s | heap before → peak (MiB) | RSS before → peak (MiB) | ≥ 50,000 rows/s | heap growth < 200 MiB |")
        w("|---|---:|---:|---:|---:|---:|---:|---|---|")
        for e in P["exports"]:
            fast = "yes" if e["rows_per_s"] >= 50000 else "**no**"
            small = "yes" if e["anon_growth_mib"] < 200 else "**no**"
            w(f"| {e['role']}'s `cases.{e['format']}` | {e['rows']:,} | {e['bytes'] / 2**20:,.0f} | {e['seconds']:.1f} | {e['rows_per_s']:,.0f} | "
              f"{e['anon_before_mib']:,} → {e['anon_peak_mib']:,} | {e['rss_before_mib']:,} → {e['peak_rss_mib']:,} | {fast} | {small} |")
        w("")
        w("Heap: the process's anonymous resident memory (sampled every 20 ms), which is what an export itself holds (rows in flight, buffers, the xlsx being compressed). "
          "RSS also counts the database file's pages that SQLite maps into memory (mmap, up to 1 GiB per connection) and its page cache: "
          "shared with the OS page cache and given back under pressure, they grow with what was read, not with what the export keeps.")
    w("")


def section(runs):
    """The markdown lines of the pages section, from the runs of bench/run.sh."""
    out = []
    w = out.append
    if not any(k.startswith("pages_") for k in runs):
        return out
    w("## Pages and lists at city scale")
    w("")
    w("`linli-bench pages` opens a database made by `linli gen --people N --cases M`, serves it on loopback in the same process, signs in as a grid member, "
      "a community worker, subdistrict staff, a district administrator and the busiest unit's handler, and walks each role's pages and lists with their filters; "
      "then it downloads the district's case export as CSV and the subdistrict's as xlsx, with the peak memory of the whole process (server and client) while each runs.")
    w("")
    pages_table(runs, "pages_sqlite_21m", "SQLite, Chengdu scale (21,000,000 people, 24,000,000 cases)", w)
    b = runs.get("big_db_size")
    if b:
        w(f"The database file of that run: {b['bytes'] / 2**30:,.1f} GiB.")
        w("")
    pages_table(runs, "pages_sqlite", "SQLite", w)
    pages_table(runs, "pages_postgres", "PostgreSQL", w)
    w("Command: `target/release/linli-bench pages --db URL --repeat N` (the key of `linli gen` from `LINLI_KEY_FILE`).")
    w("")
    return out


if __name__ == "__main__":
    runs = {}
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                runs[d["name"]] = d
    print("\n".join(section(runs)))
