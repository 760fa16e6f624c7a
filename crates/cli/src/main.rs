//! The `linli` binary.

mod gen_files;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use linli_core::ids::CaseId;
use linli_core::ledger::LedgerKind;
use linli_store::import::{ImportOptions, ImportReport, TableFormat, read_ledger};
use linli_store::{Scope, Store, Vault};

#[derive(Parser)]
#[command(
    name = "linli",
    version,
    about = "邻里 linli — community governance: grids, registry, requests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, env = "LINLI_DB", default_value = "sqlite://linli.db")]
    db: String,
    /// Master key for personal data, 32 bytes in base64 (see `linli keygen`).
    #[arg(long, env = "LINLI_KEY", hide_env_values = true)]
    key: Option<String>,
    /// File holding the master key, instead of --key.
    #[arg(long, env = "LINLI_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Key of the audit chain, 32 bytes in base64, kept apart from the
    /// master key (without it, one is derived from the master key).
    #[arg(long, env = "LINLI_AUDIT_KEY", hide_env_values = true)]
    audit_key: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web interface and API.
    Serve {
        #[command(flatten)]
        db: DbArgs,
        /// Address to listen on.
        #[arg(long, env = "LINLI_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Bearer token of the district administrator for the API (16+ characters).
        #[arg(long, env = "LINLI_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// Whether Open311 `GET requests` lists requests to anyone (public
        /// fields only: category, status, masked description, grid, a point
        /// rounded to ~100 m). With false, only a request's own id finds it.
        #[arg(long, env = "LINLI_OPEN311_LIST", default_value_t = true, action = clap::ArgAction::Set)]
        open311_list: bool,
        /// File to which a signed audit checkpoint is appended every ten
        /// minutes, and against which the audit page verifies. Keep it off
        /// the database's disk, or copy it elsewhere.
        #[arg(long, env = "LINLI_AUDIT_CHECKPOINTS")]
        audit_checkpoints: Option<PathBuf>,
    },
    /// Create a SQLite database with a generated demo district (if absent) and serve it.
    Demo {
        #[arg(long, env = "LINLI_DB", default_value = "sqlite://linli-demo.db")]
        db: String,
        #[arg(long, env = "LINLI_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Residents in the demo district.
        #[arg(long, default_value_t = 20_000)]
        people: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Bring the database schema up to date.
    /// (Needs the keys: an upgrade seals data and signs the audit chain.)
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Generate a deterministic synthetic city into a database, or into files with --out.
    Gen {
        #[command(flatten)]
        db: DbArgs,
        /// Number of residents (0: add only cases to a generated city).
        #[arg(long)]
        people: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also a year of case history (工单) of this many cases, as rows with their rates rollup.
        #[arg(long, default_value_t = 0)]
        cases: u64,
        /// The day (Beijing) the year of cases ends before; default today.
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
        /// Write the rates columns of the generated cases to this CSV as well (for peers).
        #[arg(long)]
        rates_csv: Option<PathBuf>,
        /// Write grids.geojson, registry.csv and compounds.csv to this folder instead of a database.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Import a registry (.csv/.xlsx), a compound ledger (.csv/.xlsx) or grid polygons (.geojson).
    Import {
        what: ImportKind,
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
        /// Limit the import to this org unit's area (its code); default: the whole tree.
        #[arg(long)]
        scope: Option<String>,
        /// Who is importing, for the audit log.
        #[arg(long, default_value = "cli")]
        actor: String,
        /// Check everything and print what would be created, updated and
        /// changed; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The grid (15-digit code) of every row that names none: for a
        /// ledger kept by one grid without a grid column.
        #[arg(long)]
        grid: Option<String>,
        /// The worksheet to read (default: the first whose header linli
        /// recognises).
        #[arg(long)]
        sheet: Option<String>,
        /// Write every value the import changed (row, column, from, to,
        /// why) to this CSV file; the screen shows them by kind.
        #[arg(long)]
        changes: Option<PathBuf>,
        /// Grids: overlaps smaller than this many square metres are
        /// slivers of digitising and not reported.
        #[arg(long, default_value_t = linli_store::import::DEFAULT_OVERLAP_TOLERANCE_M2)]
        overlap_tolerance: f64,
        /// Registry: import the column headed HEADER as FIELD (a field key
        /// such as id_number), or not at all with an empty FIELD; repeat
        /// for several columns. Overrides the header dictionary.
        #[arg(long = "map", value_name = "HEADER=FIELD")]
        map: Vec<String>,
    },
    /// Export the registry or the compound ledger to .xlsx or .csv (by the file's extension).
    Export {
        what: ExportKind,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        scope: Option<String>,
        /// Export ID numbers and phones in clear (needs --reason; audited).
        #[arg(long)]
        unmasked: bool,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Check or read the audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Find the grid holding a point (WGS-84).
    Locate {
        #[arg(long, allow_negative_numbers = true, required_unless_present = "input")]
        lon: Option<f64>,
        #[arg(long, allow_negative_numbers = true, required_unless_present = "input")]
        lat: Option<f64>,
        /// A CSV of points (columns lon/lat, lng/lat, x/y or 经度/纬度): every
        /// point located in one pass; the rows are written back with
        /// grid_code and grid_name added.
        #[arg(long, conflicts_with_all = ["lon", "lat"])]
        input: Option<PathBuf>,
        /// Where to write the located rows (default: standard output).
        #[arg(long, requires = "input")]
        output: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print a new random master key (base64) for LINLI_KEY.
    Keygen,
    /// Requests and cases (诉求/工单).
    Case {
        #[command(subcommand)]
        action: CaseCmd,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Make an account that signs in (the first district administrator, say).
    /// The password is read from LINLI_NEW_PASSWORD or, if unset, from the first line of standard input.
    Account {
        #[arg(long)]
        username: String,
        /// resident, grid_member, community_worker, community_secretary, subdistrict_staff,
        /// unit_handler, volunteer, social_organisation, district_admin, auditor.
        #[arg(long)]
        role: String,
        /// Code of the org unit the account belongs to (staff roles).
        #[arg(long)]
        org: Option<String>,
        /// Id of the handling unit (unit handlers).
        #[arg(long)]
        unit: Option<i64>,
        #[arg(long, default_value = "")]
        display_name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Make an API key for an integration (12345 bridge, Open311 client).
    Apikey {
        /// Who the key is for.
        #[arg(long)]
        name: String,
        /// Limit the key to this org unit's area (its code).
        #[arg(long)]
        scope: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Add or replace holiday years from a calendar file (format of crates/core/data/calendar_cn.json).
    CalendarExtend {
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print the secret that webhook receivers use to check X-Linli-Signature.
    WebhookSecret {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum CaseCmd {
    /// Register a request (JSON like the API's POST /api/v1/cases).
    New {
        /// e.g. '{"channel":"counter","category":"1202","description":"电梯故障","lon":104.0,"lat":30.6}'
        json: String,
    },
    /// Show a case (by code GD… or id) with its timeline.
    Show { case: String },
    /// Take a step: '{"action":"dispatch","unit":7}'. Uses the current version unless --version is given.
    Act {
        case: String,
        json: String,
        #[arg(long)]
        version: Option<i64>,
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// List cases, newest first.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        overdue: bool,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Rates by unit over a period (2026, 2026-Q3, 2026-07) or the last N days.
    Rates {
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// A year, quarter or month (Beijing); overrides --days.
        #[arg(long)]
        period: Option<String>,
    },
    /// Mark overdue cases now (the server also does this every 30 s).
    ScanOverdue,
    /// Recompute the rates rollup from the cases (after restoring rows by hand, say).
    RollupRebuild,
    /// Register a handling unit (department, property company …) at an org unit.
    Unit {
        /// Code of the org unit it serves.
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// Unit kind, as the categories name them (property, urban_management, community …).
        #[arg(long)]
        kind: String,
        #[arg(long)]
        webhook: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Walk the keyed chain and report the first broken link; with
    /// --checkpoints, also whether the log still holds the last checkpoint.
    /// Needs the audit key (LINLI_AUDIT_KEY) or the master key.
    Verify {
        #[command(flatten)]
        db: DbArgs,
        /// A file of checkpoints written by `linli audit checkpoint`.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
    /// Append the signed head of the chain to a file kept outside the database.
    Checkpoint {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        out: PathBuf,
    },
    /// Show the newest entries.
    Tail {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ImportKind {
    Registry,
    Compounds,
    Grids,
    /// 12345 hotline tickets (.csv or .json).
    Hotline,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportKind {
    Registry,
    Compounds,
}

/// The demo accounts' password unless LINLI_DEMO_PASSWORD gives one: the
/// demo database lives on the operator's machine, for trying things out.
const DEMO_PASSWORD: &str = "linli-demo-2026";

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LINLI_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run(cli.command))
}

fn vault_from(args: &DbArgs) -> Result<Vault> {
    let with_audit_key = |v: Vault| -> Result<Vault> {
        Ok(match &args.audit_key {
            Some(k) => v.with_audit_key(k)?,
            None => v,
        })
    };
    if let Some(k) = &args.key {
        return with_audit_key(Vault::from_base64(k)?);
    }
    if let Some(path) = &args.key_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading key file {}", path.display()))?;
        return with_audit_key(Vault::from_base64(&text)?);
    }
    bail!(
        "no encryption key for personal data: set LINLI_KEY (32 bytes, base64) or --key-file FILE; \
         `linli keygen` prints a new key. (`linli demo` makes its own.)"
    )
}

/// Midnight of a day in Beijing.
fn beijing_midnight(d: chrono::NaiveDate) -> Result<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    chrono::FixedOffset::east_opt(8 * 3600)
        .and_then(|z| {
            z.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
                .single()
        })
        .map(|t| t.with_timezone(&chrono::Utc))
        .context("bad date")
}

/// Opens the store for a command: what versions before migrations 9 and 19
/// left in clear (birth dates, reporters' names) is sealed first (see [`seal_legacy_in_background`] for servers).
async fn open(args: &DbArgs) -> Result<Store> {
    let store = open_for_serving(args).await?;
    seal_legacy(&store).await?;
    Ok(store)
}

async fn open_for_serving(args: &DbArgs) -> Result<Store> {
    linli_store::db::backend_of(&args.db)?;
    let vault = vault_from(args)?;
    Store::open(&args.db, vault)
        .await
        .with_context(|| format!("opening {}", linli_store::db::redact(&args.db)))
}

async fn seal_legacy(store: &Store) -> linli_store::Result<()> {
    let n = store.seal_legacy_people().await?;
    if n > 0 {
        tracing::info!(people = n, "birth dates sealed and ID masks rewritten");
    }
    let n = store.seal_legacy_cases().await?;
    if n > 0 {
        tracing::info!(cases = n, "reporter names sealed and masked");
    }
    Ok(())
}

/// A server answers at once; legacy rows are sealed meanwhile (at a city's
/// size, minutes), with progress in the log.
fn seal_legacy_in_background(store: &Store) {
    let store = store.clone();
    tokio::spawn(async move {
        if let Err(e) = seal_legacy(&store).await {
            tracing::error!("sealing legacy personal data failed: {e}");
        }
    });
}

async fn scope_of(store: &Store, code: Option<&str>) -> Result<Scope> {
    match code {
        None => Ok(Scope::Everything),
        Some(c) => Ok(store
            .org_by_code(&Scope::Everything, c)
            .await
            .with_context(|| format!("no org unit with code {c}"))?
            .scope()?),
    }
}

fn bar(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(250));
    pb
}

/// The file behind a sqlite:// URL, for files kept beside it.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or(rest);
    (!file.is_empty() && file != ":memory:").then(|| PathBuf::from(file))
}

/// Reads a secret from `path`, or writes a new one there (mode 0600).
fn secret_beside(path: &Path, make: impl Fn() -> Result<String>) -> Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return Ok(text.trim().to_string());
    }
    let value = make()?;
    std::fs::write(path, format!("{value}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(value)
}

/// A stored time (ms since the epoch) in the machine's local time.
fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

async fn find_case(store: &Store, key: &str) -> Result<linli_store::cases::CaseView> {
    let all = Scope::Everything;
    Ok(match key.parse::<i64>() {
        Ok(id) => store.case(&all, id).await?,
        Err(_) => store.case_by_code(&all, key).await?,
    })
}

fn print_case(c: &linli_store::cases::CaseView) {
    let r = &c.row;
    let when = |ms: Option<i64>| {
        ms.map(linli_core::period::beijing_minute)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "{} [{} {}] v{} {} | {} | {} | unit: {} | due: {}{}",
        r.code,
        r.state,
        c.state_zh,
        r.version,
        r.category_name.as_deref().unwrap_or("-"),
        r.title,
        r.grid_name.as_deref().unwrap_or("-"),
        r.unit_name.as_deref().unwrap_or("-"),
        when(r.due_at),
        if c.overdue { " OVERDUE" } else { "" }
    );
}

async fn case_cmd(store: &Store, cmd: CaseCmd) -> Result<()> {
    let all = Scope::Everything;
    match cmd {
        CaseCmd::New { json } => {
            let req: linli_store::cases::NewRequest =
                serde_json::from_str(&json).context("request JSON")?;
            let c = store.intake(&all, "cli", &req).await?;
            print_case(&c);
        }
        CaseCmd::Show { case } => {
            let c = find_case(store, &case).await?;
            print_case(&c);
            let allowed: Vec<&str> = c.allowed.iter().map(|k| k.code()).collect();
            println!("allowed now: {}", allowed.join(", "));
            for e in store.timeline(&all, c.row.id).await? {
                let at = local_time(e.at);
                println!(
                    "  {at} {:<18} {:>13} → {:<13} {:<12} {}",
                    e.action, e.from_state, e.to_state, e.actor, e.note
                );
            }
        }
        CaseCmd::Act {
            case,
            json,
            version,
            actor,
        } => {
            let c = find_case(store, &case).await?;
            let action: linli_core::case::Action =
                serde_json::from_str(&json).context("action JSON, e.g. {\"action\":\"open\"}")?;
            let c = store
                .act(
                    &all,
                    &actor,
                    CaseId(c.row.id),
                    version.unwrap_or(c.row.version),
                    &action,
                )
                .await?;
            print_case(&c);
        }
        CaseCmd::List {
            state,
            overdue,
            limit,
        } => {
            let state = match state {
                Some(s) => Some(
                    linli_core::case::State::parse(&s)
                        .with_context(|| format!("unknown state {s}"))?,
                ),
                None => None,
            };
            let f = linli_store::cases::CaseFilter {
                state,
                overdue,
                limit,
                ..Default::default()
            };
            for c in store.cases(&all, &f).await? {
                print_case(&c);
            }
        }
        CaseCmd::Rates { days, period } => {
            let (from, to) = match period {
                Some(p) => linli_core::period::parse_period(&p)
                    .map_err(|e| anyhow::anyhow!("--period: {}", e.en))?,
                None => {
                    let to = chrono::Utc::now().timestamp_millis() + 1;
                    (to - days * 86_400_000, to)
                }
            };
            let (by_unit, total) = store.rates(&all, from, to).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"by_unit": by_unit, "total": total})
                )?
            );
        }
        CaseCmd::Unit {
            org,
            name,
            kind,
            webhook,
        } => {
            let o = store.org_by_code(&all, &org).await?;
            let u = store
                .create_unit(&all, o.id, &name, &kind, webhook.as_deref())
                .await?;
            println!("unit {} {} ({}) at {}", u.id, u.name, u.kind, o.name);
        }
        CaseCmd::ScanOverdue => {
            let n = store.scan_overdue(chrono::Utc::now()).await?;
            println!("{n} case(s) became overdue");
        }
        CaseCmd::RollupRebuild => {
            let n = store.rebuild_rollup().await?;
            println!("rates rollup rebuilt: {n} rows");
        }
    }
    Ok(())
}

/// Batch point-in-grid from a CSV: the points are read, located in one
/// pass on all cores, and the rows written back with their grid. A row
/// whose coordinates do not parse is written with an empty grid and
/// counted; nothing is skipped silently.
async fn locate_file(
    store: &Store,
    input: &std::path::Path,
    output: Option<&std::path::Path>,
) -> Result<()> {
    let open_csv = || -> Result<csv::Reader<std::fs::File>> {
        csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(input)
            .with_context(|| format!("reading {}", input.display()))
    };
    let mut rdr = open_csv()?;
    let headers = rdr.headers()?.clone();
    let col = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    let (Some(x), Some(y)) = (
        col(&["lon", "lng", "longitude", "x", "经度"]),
        col(&["lat", "latitude", "y", "纬度"]),
    ) else {
        anyhow::bail!(
            "{}: no lon/lat (or x/y, 经度/纬度) columns in the header",
            input.display()
        );
    };
    let mut points = Vec::new();
    let mut unreadable = 0u64;
    for rec in rdr.records() {
        let rec = rec?;
        let num = |i: usize| rec.get(i).and_then(|v| v.trim().parse::<f64>().ok());
        match (num(x), num(y)) {
            (Some(a), Some(b)) => points.push((a, b)),
            _ => {
                unreadable += 1;
                points.push((f64::NAN, f64::NAN));
            }
        }
    }
    let started = std::time::Instant::now();
    let hits = store.locate_grids(&Scope::Everything, points).await?;
    let secs = started.elapsed().as_secs_f64();
    let sink: Box<dyn std::io::Write> = match output {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("writing {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(sink));
    let mut head: Vec<&str> = headers.iter().collect();
    head.extend(["grid_code", "grid_name"]);
    w.write_record(&head)?;
    let mut located = 0u64;
    for (rec, hit) in open_csv()?.records().zip(&hits) {
        let mut row: Vec<String> = rec?.iter().map(str::to_string).collect();
        row.resize(headers.len(), String::new());
        match hit {
            Some(g) => {
                located += 1;
                row.push(g.code.clone());
                row.push(g.name.clone());
            }
            None => row.extend([String::new(), String::new()]),
        }
        w.write_record(&row)?;
    }
    w.flush()?;
    eprintln!(
        "{} points: {located} in a grid, {} in none, {unreadable} with coordinates that are not numbers; located in {secs:.3} s",
        hits.len(),
        hits.len() as u64 - located - unreadable,
    );
    Ok(())
}

fn print_report(r: &ImportReport) {
    for c in &r.mapping {
        match c.field {
            Some(f) => println!("column '{}' -> {f}", c.header),
            None if !c.header.is_empty() => println!("column '{}' -> not imported", c.header),
            None => {}
        }
    }
    for n in &r.notices {
        println!("note: {}", n.message);
    }
    // Changes by kind, with the first rows of each (`--changes FILE` has them all).
    let mut kinds: Vec<(&str, &str, Vec<&linli_store::import::ValueChange>)> = Vec::new();
    for c in &r.changes {
        match kinds
            .iter_mut()
            .find(|(f, w, _)| *f == c.field && *w == c.why)
        {
            Some((_, _, list)) => list.push(c),
            None => kinds.push((c.field, c.why, vec![c])),
        }
    }
    for (field, why, list) in &kinds {
        let first: Vec<String> = list
            .iter()
            .take(3)
            .map(|c| format!("row {} '{}' -> '{}'", c.row, c.from, c.to))
            .collect();
        println!(
            "changed: {field}, {} rows ({why}), e.g. {}",
            list.len(),
            first.join("; ")
        );
    }
    // People updated, field by field (masked), the first hundred.
    for u in r.updates.iter().take(100) {
        let fields: Vec<String> = u
            .fields
            .iter()
            .map(|f| match f.field {
                "household" => "moves to this row's household".to_string(),
                field => format!("{field} '{}' -> '{}'", f.from, f.to),
            })
            .collect();
        println!("update: row {} {}: {}", u.row, u.name, fields.join("; "));
    }
    if r.updates.len() > 100 {
        println!("update: … and {} more people", r.updates.len() - 100);
    }
    if r.dry_run && r.errors.is_empty() {
        let sorted = |m: &std::collections::HashMap<&str, u64>| {
            let mut v: Vec<_> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
            v.sort();
            v.join(", ")
        };
        println!(
            "dry run, nothing written: {} rows would create [{}], update [{}], leave unchanged [{}]",
            r.rows,
            sorted(&r.created),
            sorted(&r.updated),
            sorted(&r.unchanged)
        );
    } else if r.committed {
        let mut created: Vec<_> = r.created.iter().collect();
        created.sort();
        let mut updated: Vec<_> = r.updated.iter().collect();
        updated.sort();
        let mut unchanged: Vec<_> = r.unchanged.iter().collect();
        unchanged.sort();
        println!(
            "imported {} rows; created {created:?}; updated {updated:?}; unchanged {unchanged:?}",
            r.rows
        );
    } else {
        eprintln!(
            "nothing was imported: {} problem(s) in the file",
            r.errors.len()
        );
        for e in r.errors.iter().take(100) {
            eprintln!("  {e}");
        }
        if r.errors.len() > 100 {
            eprintln!("  … and {} more", r.errors.len() - 100);
        }
    }
}

async fn serve_store(
    store: Store,
    listen: &str,
    token: String,
    open311_list: bool,
    audit_checkpoints: Option<PathBuf>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("linli serving on http://{addr}/  (API: Authorization: Bearer <admin token>)");
    let mut state = linli_web::AppState::new(store.clone(), token);
    state.open311_public_list = open311_list;
    state.audit_checkpoints = audit_checkpoints.map(std::sync::Arc::new);
    linli_web::serve(listener, state).await?;
    store.db.close().await;
    Ok(())
}

async fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Serve {
            db,
            listen,
            admin_token,
            open311_list,
            audit_checkpoints,
        } => {
            linli_store::db::backend_of(&db.db)?;
            let token = match admin_token {
                Some(t) if t.trim().len() >= 16 => t.trim().to_string(),
                Some(_) => bail!("LINLI_ADMIN_TOKEN must have at least 16 characters"),
                None => bail!(
                    "set LINLI_ADMIN_TOKEN (16+ characters) for the administrator's API access"
                ),
            };
            let store = open_for_serving(&db).await?;
            seal_legacy_in_background(&store);
            serve_store(store, &listen, token, open311_list, audit_checkpoints).await
        }
        Command::Demo {
            db,
            listen,
            people,
            seed,
        } => {
            let file =
                sqlite_file(&db).context("linli demo runs on a SQLite file: --db sqlite://FILE")?;
            let key_path = PathBuf::from(format!("{}.key", file.display()));
            let token_path = PathBuf::from(format!("{}.token", file.display()));
            let key = secret_beside(&key_path, || Ok(Vault::generate_key()?))?;
            let token = secret_beside(&token_path, || {
                Ok(format!(
                    "demo-{}",
                    Vault::generate_key()?.replace(['/', '+', '='], "")
                ))
            })?;
            // The audit chain's key is kept apart from the data key.
            let audit_key_path = PathBuf::from(format!("{}.audit-key", file.display()));
            let audit_key = secret_beside(&audit_key_path, || Ok(Vault::generate_key()?))?;
            let store =
                Store::open(&db, Vault::from_base64(&key)?.with_audit_key(&audit_key)?).await?;
            // The database holds the district's people: readable by its owner only.
            #[cfg(unix)]
            for ext in ["", "-wal", "-shm"] {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(
                    format!("{}{ext}", file.display()),
                    std::fs::Permissions::from_mode(0o600),
                );
            }
            seal_legacy_in_background(&store);
            let stats = store.scope_stats(&Scope::Everything).await?;
            if stats.grids == 0 {
                println!("generating a demo district of {people} residents (seed {seed}) …");
                let started = Instant::now();
                let pb = bar(people, "people");
                let s = store
                    .load_synth(people, seed, &|done, _| pb.set_position(done))
                    .await?;
                pb.finish_and_clear();
                println!(
                    "generated {} org units, {} compounds, {} dwellings, {} households, {} people in {:.1?}",
                    s.org_units,
                    s.compounds,
                    s.dwellings,
                    s.households,
                    s.people,
                    started.elapsed()
                );
                // A year of case history, about one request per resident
                // (Beijing's 12345 takes 20–24 million a year for 22 million).
                let until = beijing_midnight(chrono::Local::now().date_naive())?;
                let n = store
                    .load_synth_cases(people, seed, until, None, &|_, _| {})
                    .await?;
                println!("generated a year of case history: {n} cases");
            }
            // Accounts of every role to sign in with; the password is
            // LINLI_DEMO_PASSWORD or the demo's own default (printed).
            let password =
                std::env::var("LINLI_DEMO_PASSWORD").unwrap_or_else(|_| DEMO_PASSWORD.to_string());
            let accounts = store.ensure_demo_accounts(&password).await?;
            println!("database: {}   key: {}", file.display(), key_path.display());
            println!("sign in at http://{listen}/login with password {password} as:");
            for a in &accounts {
                println!(
                    "  {:<16} {} {} — {}",
                    a.username,
                    a.role.label_zh(),
                    a.role.code(),
                    a.place
                );
            }
            println!("demo administrator API token: {token}");
            println!("  try: curl -H 'Authorization: Bearer {token}' http://{listen}/api/v1/stats");
            serve_store(
                store,
                &listen,
                token,
                true,
                Some(PathBuf::from(format!("{}.checkpoints", file.display()))),
            )
            .await
        }
        Command::Migrate { db } => {
            let vault = vault_from(&db)?;
            let d = linli_store::Db::connect(&db.db).await?;
            let before = linli_store::migrate::current_version(&d).await.unwrap_or(0);
            // Opening the store applies the migrations and the work an
            // upgrade needs after them (the rollups rebuilt from the cases,
            // legacy personal data sealed), so the next start serves at once.
            let store = Store::open_db(d, vault).await?;
            seal_legacy(&store).await?;
            let after = linli_store::migrate::current_version(&store.db).await?;
            println!("{} migration(s) applied; schema is current", after - before);
            Ok(())
        }
        Command::Gen {
            db,
            people,
            seed,
            out,
            cases,
            until,
            rates_csv,
        } => {
            if people == 0 && cases == 0 {
                bail!("give --people N (a city) and/or --cases N (a year of cases)");
            }
            let started = Instant::now();
            if let Some(dir) = out {
                if cases > 0 {
                    bail!("--cases needs --db: the cases are generated against the stored city");
                }
                let n = gen_files::write(&dir, people, seed)?;
                println!(
                    "wrote {n} people to {} in {:.1?}",
                    dir.display(),
                    started.elapsed()
                );
                return Ok(());
            }
            let store = open(&db).await?;
            if people > 0 {
                let pb = bar(people, "people");
                let s = store
                    .load_synth(people, seed, &|done, _| pb.set_position(done))
                    .await?;
                pb.finish_and_clear();
                let secs = started.elapsed().as_secs_f64();
                println!("{}", serde_json::to_string_pretty(&s)?);
                println!(
                    "loaded {} people in {secs:.1} s ({:.0} people/s)",
                    s.people,
                    s.people as f64 / secs
                );
            }
            if cases > 0 {
                let started = Instant::now();
                let until = until.unwrap_or_else(|| chrono::Local::now().date_naive());
                let until = beijing_midnight(until)?;
                let mut file = match &rates_csv {
                    Some(p) => {
                        let f = std::fs::File::create(p)
                            .with_context(|| format!("cannot create {}", p.display()))?;
                        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                        writeln!(w, "{}", linli_store::history::RATES_CSV_HEADER)?;
                        Some(w)
                    }
                    None => None,
                };
                let pb = bar(cases, "cases");
                let n = store
                    .load_synth_cases(
                        cases,
                        seed,
                        until,
                        file.as_mut().map(|w| w as &mut (dyn std::io::Write + Send)),
                        &|done, _| pb.set_position(done),
                    )
                    .await?;
                pb.finish_and_clear();
                if let Some(mut w) = file {
                    w.flush()?;
                }
                let secs = started.elapsed().as_secs_f64();
                println!(
                    "loaded {n} cases in {secs:.1} s ({:.0} cases/s)",
                    n as f64 / secs
                );
            }
            Ok(())
        }
        Command::Import {
            what,
            file,
            db,
            scope,
            actor,
            dry_run,
            grid,
            sheet,
            changes,
            overlap_tolerance,
            map,
        } => {
            let store = open(&db).await?;
            let scope = scope_of(&store, scope.as_deref()).await?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let report = match what {
                ImportKind::Grids => {
                    let text = String::from_utf8(bytes).context("GeoJSON must be UTF-8")?;
                    store
                        .import_grids_with(&scope, &actor, &text, overlap_tolerance)
                        .await?
                }
                ImportKind::Hotline => {
                    if file
                        .to_string_lossy()
                        .to_ascii_lowercase()
                        .ends_with(".json")
                    {
                        let list: Vec<linli_store::cases::NewRequest> =
                            serde_json::from_slice(&bytes)
                                .context("hotline JSON: expected an array of requests")?;
                        let rows = list
                            .into_iter()
                            .enumerate()
                            .map(|(i, r)| (i + 1, r.into()))
                            .collect();
                        store.import_hotline(&scope, &actor, rows).await?
                    } else {
                        let format = TableFormat::from_path(&file.to_string_lossy())?;
                        let table =
                            read_ledger(&bytes, format, LedgerKind::Hotline, sheet.as_deref())?;
                        store.import_hotline_table(&scope, &actor, &table).await?
                    }
                }
                ImportKind::Registry | ImportKind::Compounds => {
                    let format = TableFormat::from_path(&file.to_string_lossy())?;
                    let kind = if matches!(what, ImportKind::Registry) {
                        LedgerKind::Registry
                    } else {
                        LedgerKind::Compounds
                    };
                    let mut table = read_ledger(&bytes, format, kind, sheet.as_deref())?;
                    if !map.is_empty() && !matches!(what, ImportKind::Registry) {
                        anyhow::bail!("--map is for registry imports");
                    }
                    if !map.is_empty() {
                        let mut choices = std::collections::BTreeMap::new();
                        for m in &map {
                            let (header, field) = m.split_once('=').with_context(|| {
                                format!(
                                    "--map '{m}': write HEADER=FIELD (FIELD empty for not imported)"
                                )
                            })?;
                            choices.insert(header.trim().to_string(), field.trim().to_string());
                        }
                        table.remap(&choices, linli_store::import::REGISTRY_COLUMNS)?;
                    }
                    if matches!(what, ImportKind::Registry) {
                        let pb = bar(table.rows.len() as u64, "rows");
                        let options = ImportOptions { dry_run, grid };
                        // Without a terminal (a script, cron) the bar is not
                        // drawn: a line per tenth of the rows goes to the log.
                        let plain = !std::io::IsTerminal::is_terminal(&std::io::stderr());
                        let tenths = std::sync::atomic::AtomicU64::new(0);
                        let r = store
                            .import_registry_with(
                                &scope,
                                &actor,
                                &table,
                                &options,
                                &|done, total| {
                                    pb.set_position(done);
                                    let tenth = done * 10 / total.max(1);
                                    if plain
                                        && tenth
                                            > tenths
                                                .swap(tenth, std::sync::atomic::Ordering::Relaxed)
                                    {
                                        let what = if dry_run {
                                            "checked"
                                        } else {
                                            "written, not yet committed"
                                        };
                                        eprintln!("rows {done}/{total} {what}");
                                    }
                                },
                            )
                            .await?;
                        pb.finish_and_clear();
                        r
                    } else {
                        store.import_compounds(&scope, &actor, &table).await?
                    }
                }
            };
            print_report(&report);
            if let Some(path) = changes {
                let mut w = csv::Writer::from_path(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                w.write_record(["row", "column", "from", "to", "why"])?;
                for c in &report.changes {
                    w.write_record([&c.row.to_string(), c.field, &c.from, &c.to, c.why])?;
                }
                w.flush()?;
            }
            if !report.errors.is_empty() || (!report.committed && !report.dry_run) {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Export {
            what,
            out,
            db,
            scope,
            unmasked,
            reason,
            actor,
        } => {
            let store = open(&db).await?;
            let scope = scope_of(&store, scope.as_deref()).await?;
            let format = TableFormat::from_path(&out.to_string_lossy())?;
            let stream = match what {
                ExportKind::Registry => {
                    let u = unmasked.then_some((actor.as_str(), reason.as_str()));
                    store.stream_registry(&scope, format, u).await?
                }
                ExportKind::Compounds => store.stream_compounds(&scope, format),
            };
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(&out)
                    .with_context(|| format!("writing {}", out.display()))?,
            );
            let written = match stream.write_to(&mut file).await {
                Ok(rows) => std::io::Write::flush(&mut file)
                    .map(|()| rows)
                    .map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            };
            let rows = match written {
                Ok(rows) => rows,
                Err(e) => {
                    // No half-written file is left behind.
                    drop(file);
                    let _ = std::fs::remove_file(&out);
                    return Err(e.context(format!("writing {}", out.display())));
                }
            };
            println!("wrote {rows} rows to {}", out.display());
            Ok(())
        }
        Command::Audit { action } => {
            let args = match &action {
                AuditAction::Verify { db, .. }
                | AuditAction::Checkpoint { db, .. }
                | AuditAction::Tail { db, .. } => db,
            };
            // The log holds no sealed data: an auditor needs only the audit key.
            let vault = match (&args.key, &args.key_file, &args.audit_key) {
                (None, None, Some(k)) => Vault::audit_only(k)?,
                (None, None, None) => bail!(
                    "the audit chain is keyed: set LINLI_AUDIT_KEY (or LINLI_KEY, if no separate audit key is used)"
                ),
                _ => vault_from(args)?,
            };
            let store = Store::new(linli_store::Db::connect(&args.db).await?, vault)?;
            match action {
                AuditAction::Tail { limit, .. } => {
                    for e in store.audit_entries(limit).await? {
                        let at = local_time(e.at);
                        println!(
                            "{:>8} {at} {:<12} {:<26} {:<20} {}",
                            e.seq, e.actor, e.action, e.object, e.detail
                        );
                    }
                    Ok(())
                }
                AuditAction::Checkpoint { out, .. } => {
                    let cp = store.audit_checkpoint().await?;
                    linli_store::audit::append_checkpoint(&out, &cp)?;
                    println!(
                        "checkpoint: {} entries, head {} → {}",
                        cp.seq,
                        &cp.hash[..16.min(cp.hash.len())],
                        out.display()
                    );
                    Ok(())
                }
                AuditAction::Verify { checkpoints, .. } => {
                    let cp = match &checkpoints {
                        Some(path) => {
                            Some(linli_store::audit::last_checkpoint(path)?.with_context(|| {
                                format!("{} holds no checkpoint", path.display())
                            })?)
                        }
                        None => None,
                    };
                    let v = store.audit_verify(cp.as_ref()).await?;
                    match v.first_broken {
                        None => {
                            println!(
                                "audit log intact: {} entries ({} from before the chain was keyed){}",
                                v.entries,
                                v.unkeyed,
                                match v.checkpoint_seq {
                                    Some(n) => format!("; holds the checkpoint at entry {n}"),
                                    None => "; no checkpoint compared (use --checkpoints)".into(),
                                }
                            );
                            Ok(())
                        }
                        Some(b) => {
                            eprintln!(
                                "audit log BROKEN at entry {}: {} ({} entries verified before it)",
                                b.id, b.reason, v.entries
                            );
                            std::process::exit(3);
                        }
                    }
                }
            }
        }
        Command::Locate {
            lon,
            lat,
            input,
            output,
            db,
        } => {
            let store = open(&db).await?;
            if let Some(input) = input {
                return locate_file(&store, &input, output.as_deref()).await;
            }
            let (Some(lon), Some(lat)) = (lon, lat) else {
                anyhow::bail!("give --lon and --lat, or --input FILE");
            };
            match store.locate_grid(&Scope::Everything, lon, lat).await? {
                Some(g) => println!("{} {} (id {})", g.code, g.name, g.id),
                None => println!("no grid holds ({lon}, {lat})"),
            }
            Ok(())
        }
        Command::Keygen => {
            println!("{}", Vault::generate_key()?);
            Ok(())
        }
        Command::Case { action, db } => case_cmd(&open(&db).await?, action).await,
        Command::Account {
            username,
            role,
            org,
            unit,
            display_name,
            db,
        } => {
            let password = match std::env::var("LINLI_NEW_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("password for {username} (one line):");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let store = open(&db).await?;
            let a = store
                .create_account(
                    "cli",
                    &linli_store::accounts::NewAccount {
                        username,
                        display_name,
                        role,
                        password,
                        org_code: org,
                        unit_id: unit,
                    },
                )
                .await?;
            println!(
                "account {} ({}) made, reaching {}",
                a.username, a.role, a.scope_path
            );
            Ok(())
        }
        Command::Apikey { name, scope, db } => {
            let store = open(&db).await?;
            let key = store.create_api_key(&name, scope.as_deref()).await?;
            println!("{key}");
            eprintln!("keep it safe: only its hash is stored, it cannot be shown again");
            Ok(())
        }
        Command::CalendarExtend { file, db } => {
            let store = open(&db).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let years = store.extend_calendar("cli", &text).await?;
            println!("calendar years added or replaced: {years:?}");
            Ok(())
        }
        Command::WebhookSecret { db } => {
            println!("{}", vault_from(&db)?.webhook_secret());
            Ok(())
        }
    }
}
