//! Rates for all units over a year of cases: linli's rollup read (what
//! the API serves) and, for reference, the same counts scanned from the
//! case rows. The peer (DuckDB) computes them from the CSV the generator
//! wrote beside the very same rows.

use std::time::Instant;

use anyhow::Result;
use linli_core::period;
use linli_store::{Scope, Store, Vault};
use serde_json::json;

pub async fn run(
    url: &str,
    from_month: i32,
    to_month: i32,
    repeat: usize,
    scan: bool,
) -> Result<()> {
    let store = Store::open(url, Vault::new([9; 32])).await?;
    // Pending deltas folded first, as the background job does every 5 s.
    store.fold_rollup().await?;
    let (from, to) = (
        period::month_start(from_month),
        period::month_start(to_month),
    );
    let mut best = f64::MAX;
    let mut out = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let r = store.rates(&Scope::Everything, from, to).await?;
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    let (by_unit, total) = out.ok_or_else(|| anyhow::anyhow!("no run"))?;
    // The dashboard's category mix: rollup category rows, like the rates.
    let mut mix_s = f64::MAX;
    let mut mix = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        mix = store.category_mix(&Scope::Everything, from, to).await?;
        mix_s = mix_s.min(t.elapsed().as_secs_f64());
    }
    let mut scan_s = None;
    let mut mix_scan_s = None;
    if scan {
        let now = chrono::Utc::now().timestamp_millis().min(to);
        let t = Instant::now();
        let rows = store
            .rate_counts_of_cases(&Scope::Everything, from, to, now)
            .await?;
        scan_s = Some(t.elapsed().as_secs_f64());
        let requests: i64 = rows.iter().map(|r| r.requests).sum();
        anyhow::ensure!(
            requests == total.counts.requests,
            "the scan counted {requests} requests, the rollup {}",
            total.counts.requests
        );
        let t = Instant::now();
        let mix_raw = store
            .category_mix_of_cases(&Scope::Everything, from, to)
            .await?;
        mix_scan_s = Some(t.elapsed().as_secs_f64());
        anyhow::ensure!(
            mix_raw == mix,
            "the category mix differs between rollup and scan"
        );
    }
    let c = &total.counts;
    println!(
        "{}",
        json!({
            "workload": "rates",
            "backend": format!("{:?}", store.backend()).to_lowercase(),
            "units": by_unit.len(),
            "rollup_s": best,
            "scan_s": scan_s,
            "mix_s": mix_s,
            "mix_scan_s": mix_scan_s,
            "mix_categories": mix.len(),
            "totals": [c.requests, c.responded_in_time, c.refused, c.resolved, c.rated, c.satisfied, c.opened, c.due, c.closed_on_time, c.closed, c.reworked, c.extended],
        })
    );
    Ok(())
}
