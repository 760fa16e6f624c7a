//! linli-bench: workloads measured by bench/run.sh. Each subcommand writes
//! its input data where the peers can read the very same data, runs linli's
//! side, and prints one JSON object of figures on stdout.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use linli_core::rng::SplitMix64;
use linli_core::synth::{PEOPLE_PER_GRID, plan};
use linli_geo::{GridIndex, ring_to_shape};
use serde_json::json;

mod intake;
mod ledger;
mod pages;
mod rates;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Point-in-grid: place random points in generated grid polygons.
    Pip {
        #[arg(long, default_value_t = 2_325)]
        grids: u64,
        #[arg(long, default_value_t = 1_000_000)]
        points: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Folder for grids.wkt and points.csv (read by the peers).
        #[arg(long)]
        out: PathBuf,
        /// Timed repetitions; the best is reported.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// Case intake over HTTP on loopback, beside the raw insert ceiling of the same database.
    Intake {
        /// sqlite://FILE or postgres://… (a schema of its own is made and dropped).
        #[arg(long)]
        db: String,
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Time to first byte of every page and list for each role, and the
    /// case exports, on a database made by `linli gen --people N --cases M`.
    Pages {
        #[arg(long)]
        db: String,
        /// The key the database was made with (LINLI_KEY_FILE of `linli gen`).
        #[arg(long, env = "LINLI_KEY_FILE")]
        key_file: Option<String>,
        /// Timed requests of each page (after one untimed).
        #[arg(long, default_value_t = 20)]
        repeat: usize,
        /// Leave out the exports.
        #[arg(long)]
        no_export: bool,
    },
    /// A real-shaped population ledger (ledger.xlsx, GBK ledger.csv) of
    /// N people in the grids of a `linli gen --out` city, for the import
    /// benchmark (`linli import registry … [--dry-run]`).
    LedgerFile {
        #[arg(long, default_value_t = 200_000)]
        rows: usize,
        /// grids.geojson written by `linli gen --out`.
        #[arg(long)]
        grids: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Rates for all units over whole months of cases (made by `linli gen --cases`).
    Rates {
        #[arg(long)]
        db: String,
        /// First month, yyyymm.
        #[arg(long)]
        from: i32,
        /// Month after the last, yyyymm.
        #[arg(long)]
        to: i32,
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Also count by scanning the case rows, and check the totals agree.
        #[arg(long)]
        scan: bool,
    },
}

fn best_of<T>(repeat: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    (
        best,
        last.unwrap_or_else(|| unreachable!("repeat is at least 1")),
    )
}

fn pip(grids: u64, points: usize, seed: u64, out: PathBuf, repeat: usize) -> Result<()> {
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let p = plan(grids * PEOPLE_PER_GRID, seed);
    let mut wkt = BufWriter::new(File::create(out.join("grids.wkt"))?);
    // The same grids as GeoJSON, for `linli import grids` and the
    // end-to-end `linli locate --input points.csv`.
    let mut features = Vec::new();
    let mut shapes = Vec::new();
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &g in &p.grids {
        let ring = p.nodes[g].polygon.clone().unwrap_or_default();
        for &(x, y) in &ring {
            min_x = min_x.min(x);
            min_y = min_y.min(y);
            max_x = max_x.max(x);
            max_y = max_y.max(y);
        }
        let coords: Vec<String> = ring.iter().map(|(x, y)| format!("{x} {y}")).collect();
        writeln!(wkt, "{}\tPOLYGON (({}))", g, coords.join(", "))?;
        features.push(json!({
            "type": "Feature",
            "properties": {"code": p.nodes[g].code, "name": p.nodes[g].name},
            "geometry": {"type": "Polygon", "coordinates": [ring.iter().map(|(x, y)| [*x, *y]).collect::<Vec<_>>()]},
        }));
        shapes.push((g as i64, ring_to_shape(&ring)));
    }
    wkt.flush()?;
    std::fs::write(
        out.join("grids.geojson"),
        json!({"type": "FeatureCollection", "features": features}).to_string(),
    )?;
    let mut rng = SplitMix64::new(seed ^ 0xB0B);
    let pts: Vec<(f64, f64)> = (0..points)
        .map(|_| {
            (
                min_x + rng.unit() * (max_x - min_x),
                min_y + rng.unit() * (max_y - min_y),
            )
        })
        .collect();
    let mut csv = BufWriter::new(File::create(out.join("points.csv"))?);
    writeln!(csv, "x,y")?;
    for (x, y) in &pts {
        writeln!(csv, "{x},{y}")?;
    }
    csv.flush()?;

    let (build_s, index) = best_of(repeat, || GridIndex::new(shapes.clone()));
    let (one_by_one_s, hits_one) = best_of(repeat, || {
        pts.iter()
            .map(|&(x, y)| index.locate(x, y))
            .collect::<Vec<_>>()
    });
    let (one_thread_s, hits) = best_of(repeat, || index.locate_many_with(&pts, 1));
    anyhow::ensure!(hits == hits_one, "batch and one-by-one results differ");
    let (all_threads_s, hits_mt) = best_of(repeat, || index.locate_many(&pts));
    anyhow::ensure!(hits == hits_mt, "threaded and single results differ");
    let matched = hits.iter().filter(|h| h.is_some()).count();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "{}",
        json!({
            "workload": "point_in_grid",
            "grids": p.grids.len(),
            "points": points,
            "matched": matched,
            "index_build_s": build_s,
            "locate_one_by_one_s": one_by_one_s,
            "locate_1_thread_s": one_thread_s,
            "locate_all_threads_s": all_threads_s,
            "threads": threads,
            "points_per_s_1_thread": points as f64 / one_thread_s,
        })
    );
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Intake {
            db,
            requests,
            concurrency,
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(intake::run(&db, requests, concurrency)),
        Cmd::Rates {
            db,
            from,
            to,
            repeat,
            scan,
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(rates::run(&db, from, to, repeat, scan)),
        Cmd::Pages {
            db,
            key_file,
            repeat,
            no_export,
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(pages::run(&db, key_file.as_deref(), repeat, !no_export)),
        Cmd::Pip {
            grids,
            points,
            seed,
            out,
            repeat,
        } => pip(grids, points, seed, out, repeat),
        Cmd::LedgerFile {
            rows,
            grids,
            seed,
            out,
        } => ledger::write(rows, &grids, seed, &out),
    }
}
