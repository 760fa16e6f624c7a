//! The `linli` binary.

mod gen_files;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use linli_store::import::{ImportReport, TableFormat, read_table};
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
    Migrate {
        #[arg(long, env = "LINLI_DB", default_value = "sqlite://linli.db")]
        db: String,
    },
    /// Generate a deterministic synthetic city into a database, or into files with --out.
    Gen {
        #[command(flatten)]
        db: DbArgs,
        /// Number of residents.
        #[arg(long)]
        people: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
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
        #[arg(long, allow_negative_numbers = true)]
        lon: f64,
        #[arg(long, allow_negative_numbers = true)]
        lat: f64,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print a new random master key (base64) for LINLI_KEY.
    Keygen,
}

#[derive(Subcommand)]
enum AuditAction {
    /// Walk the hash chain and report the first broken link.
    Verify {
        #[arg(long, env = "LINLI_DB", default_value = "sqlite://linli.db")]
        db: String,
    },
    /// Show the newest entries.
    Tail {
        #[arg(long, env = "LINLI_DB", default_value = "sqlite://linli.db")]
        db: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ImportKind {
    Registry,
    Compounds,
    Grids,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportKind {
    Registry,
    Compounds,
}

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
    if let Some(k) = &args.key {
        return Ok(Vault::from_base64(k)?);
    }
    if let Some(path) = &args.key_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading key file {}", path.display()))?;
        return Ok(Vault::from_base64(&text)?);
    }
    bail!(
        "no encryption key for personal data: set LINLI_KEY (32 bytes, base64) or --key-file FILE; \
         `linli keygen` prints a new key. (`linli demo` makes its own.)"
    )
}

async fn open(args: &DbArgs) -> Result<Store> {
    linli_store::db::backend_of(&args.db)?;
    let vault = vault_from(args)?;
    Store::open(&args.db, vault)
        .await
        .with_context(|| format!("opening {}", linli_store::db::redact(&args.db)))
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

fn print_report(r: &ImportReport) {
    if r.committed {
        let mut created: Vec<_> = r.created.iter().collect();
        created.sort();
        let mut updated: Vec<_> = r.updated.iter().collect();
        updated.sort();
        println!(
            "imported {} rows; created {created:?}; updated {updated:?}",
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

async fn serve_store(store: Store, listen: &str, token: String) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("linli serving on http://{addr}/  (API: Authorization: Bearer <admin token>)");
    linli_web::serve(
        listener,
        linli_web::AppState {
            store: store.clone(),
            admin_token: Arc::new(token),
        },
    )
    .await?;
    store.db.close().await;
    Ok(())
}

async fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Serve {
            db,
            listen,
            admin_token,
        } => {
            linli_store::db::backend_of(&db.db)?;
            let token = match admin_token {
                Some(t) if t.trim().len() >= 16 => t.trim().to_string(),
                Some(_) => bail!("LINLI_ADMIN_TOKEN must have at least 16 characters"),
                None => bail!(
                    "set LINLI_ADMIN_TOKEN (16+ characters) for the administrator's API access"
                ),
            };
            let store = open(&db).await?;
            serve_store(store, &listen, token).await
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
            let store = Store::open(&db, Vault::from_base64(&key)?).await?;
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
            }
            println!("database: {}   key: {}", file.display(), key_path.display());
            println!("demo administrator API token: {token}");
            println!("  try: curl -H 'Authorization: Bearer {token}' http://{listen}/api/v1/stats");
            serve_store(store, &listen, token).await
        }
        Command::Migrate { db } => {
            let d = linli_store::Db::connect(&db).await?;
            let n = linli_store::migrate::run(&d).await?;
            println!("{n} migration(s) applied; schema is current");
            Ok(())
        }
        Command::Gen {
            db,
            people,
            seed,
            out,
        } => {
            if people == 0 {
                bail!("--people must be at least 1");
            }
            let started = Instant::now();
            if let Some(dir) = out {
                let n = gen_files::write(&dir, people, seed)?;
                println!(
                    "wrote {n} people to {} in {:.1?}",
                    dir.display(),
                    started.elapsed()
                );
                return Ok(());
            }
            let store = open(&db).await?;
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
            Ok(())
        }
        Command::Import {
            what,
            file,
            db,
            scope,
            actor,
        } => {
            let store = open(&db).await?;
            let scope = scope_of(&store, scope.as_deref()).await?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let report = match what {
                ImportKind::Grids => {
                    let text = String::from_utf8(bytes).context("GeoJSON must be UTF-8")?;
                    store.import_grids(&scope, &actor, &text).await?
                }
                ImportKind::Registry | ImportKind::Compounds => {
                    let format = TableFormat::from_path(&file.to_string_lossy())?;
                    let table = read_table(&bytes, format)?;
                    if matches!(what, ImportKind::Registry) {
                        let pb = bar(table.rows.len() as u64, "rows");
                        let r = store
                            .import_registry(&scope, &actor, &table, &|done, _| {
                                pb.set_position(done)
                            })
                            .await?;
                        pb.finish_and_clear();
                        r
                    } else {
                        store.import_compounds(&scope, &actor, &table).await?
                    }
                }
            };
            print_report(&report);
            if !report.committed {
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
            let (bytes, rows) = match what {
                ExportKind::Registry => {
                    let u = unmasked.then_some((actor.as_str(), reason.as_str()));
                    store.export_registry(&scope, format, u).await?
                }
                ExportKind::Compounds => store.export_compounds(&scope, format).await?,
            };
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {rows} rows to {}", out.display());
            Ok(())
        }
        Command::Audit { action } => {
            // Reading the log needs no key: it holds no sealed data.
            let (db, tail) = match action {
                AuditAction::Verify { db } => (db, None),
                AuditAction::Tail { db, limit } => (db, Some(limit)),
            };
            let store = Store::new(linli_store::Db::connect(&db).await?, Vault::new([0; 32]))?;
            if let Some(limit) = tail {
                for e in store.audit_entries(limit).await? {
                    let at = chrono::DateTime::from_timestamp_millis(e.at)
                        .map(|t| {
                            t.with_timezone(&chrono::Local)
                                .format("%Y-%m-%d %H:%M:%S")
                                .to_string()
                        })
                        .unwrap_or_default();
                    println!(
                        "{:>8} {at} {:<12} {:<26} {:<20} {}",
                        e.id, e.actor, e.action, e.object, e.detail
                    );
                }
                return Ok(());
            }
            let v = store.audit_verify().await?;
            match v.first_broken {
                None => {
                    println!("audit log intact: {} entries", v.entries);
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
        Command::Locate { lon, lat, db } => {
            let store = open(&db).await?;
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
    }
}
