//! The `linli` binary as a user runs it: generate files, import them,
//! refuse a bad file without writing, export, verify the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

/// `linli ARGS` on the database `db`, with the tests' key, run in `dir`.
fn linli_command(dir: &Path, db: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linli"));
    c.args(args)
        .current_dir(dir)
        .env("LINLI_DB", db)
        .env("LINLI_KEY", "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=")
        .env_remove("LINLI_KEY_FILE");
    c
}

fn linli(dir: &Path, db: &str, args: &[&str]) -> Output {
    linli_command(dir, db, args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// The URL of `db` as seen from outside `dir` (a sqlite:// file is
/// relative to the directory the commands run in).
fn url_from(dir: &Path, db: &str) -> String {
    match db.strip_prefix("sqlite://") {
        Some(file) => format!("sqlite://{}", dir.join(file).display()),
        None => db.to_string(),
    }
}

/// Runs `f` with a database URL on a fresh PostgreSQL schema of its own,
/// when LINLI_TEST_PG_URL is set; drops the schema after.
fn on_postgres(name: &str, f: impl FnOnce(&str)) {
    let Ok(url) = std::env::var("LINLI_TEST_PG_URL") else {
        return;
    };
    let schema = format!("{name}_{}", std::process::id());
    let psql = |sql: &str| {
        let st = Command::new("psql")
            .args([url.as_str(), "-q", "-c", sql])
            .env("PGOPTIONS", "--client-min-messages=warning")
            .status()
            .unwrap();
        assert!(st.success(), "psql {sql}");
    };
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ));
    let sep = if url.contains('?') { '&' } else { '?' };
    f(&format!("{url}{sep}options=-c%20search_path%3D{schema}"));
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("linli_cli_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The whole flow on one database URL.
fn flow(dir: &Path, db: &str) {
    let o = linli(
        dir,
        db,
        &["gen", "--people", "2000", "--seed", "5", "--out", "gen"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = linli(dir, db, &["import", "grids", "gen/grids.geojson"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("\"grids\", 3"), "{}", text(&o));
    let o = linli(dir, db, &["import", "registry", "gen/registry.csv"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("(\"people\", 2000)"), "{}", text(&o));

    // A file with a bad row: exit code 2, the row and field named, nothing written.
    let good = std::fs::read_to_string(dir.join("gen/registry.csv")).unwrap();
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    // The first person from spreadsheet row 6 on gets an unknown relation.
    let at = (5..lines.len())
        .find(|&i| !lines[i].split(',').nth(7).unwrap_or("").is_empty())
        .unwrap();
    let mut cells: Vec<&str> = lines[at].split(',').collect();
    cells[12] = "landlord";
    lines[at] = cells.join(",");
    let bad_row = format!("row {}, relation: 'landlord' is not", at + 1);
    lines.push("510104001001001,新小区,1栋,1单元,101,80,1,新人,,,,,,".into());
    std::fs::write(dir.join("bad.csv"), lines.join("\n")).unwrap();
    let o = linli(dir, db, &["export", "registry", "--out", "before.csv"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = linli(dir, db, &["import", "registry", "bad.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(&bad_row), "{}", text(&o));
    let last = format!("row {}, grid_code: no grid", lines.len());
    assert!(
        !text(&o).contains(&last),
        "the new row is valid: {}",
        text(&o)
    );
    let o = linli(dir, db, &["export", "registry", "--out", "after.csv"]);
    assert!(o.status.success());
    assert_eq!(
        std::fs::read(dir.join("before.csv")).unwrap(),
        std::fs::read(dir.join("after.csv")).unwrap(),
        "a refused import changes nothing"
    );

    let o = linli(
        dir,
        db,
        &["export", "registry", "--out", "r.xlsx", "--unmasked"],
    );
    assert!(!o.status.success(), "a clear export needs a reason");
    let o = linli(
        dir,
        db,
        &[
            "export",
            "registry",
            "--out",
            "r.xlsx",
            "--unmasked",
            "--reason",
            "年检",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = linli(
        dir,
        db,
        &["locate", "--lon", "103.902", "--lat", "30.55175"],
    );
    assert!(text(&o).starts_with("510104001001001"), "{}", text(&o));
    let o = linli(dir, db, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    // (On PostgreSQL one more: where numbering by counters starts.)
    let entries = if db.starts_with("sqlite") { 3 } else { 4 };
    assert!(
        text(&o).contains(&format!("intact: {entries} entries")),
        "{}",
        text(&o)
    );

    // A case through the whole loop from the command line.
    let o = linli(
        dir,
        db,
        &[
            "case",
            "unit",
            "--org",
            "510104001001",
            "--name",
            "蜀信物业",
            "--kind",
            "property",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = linli(
        dir,
        db,
        &[
            "case",
            "new",
            r#"{"channel":"counter","category":"1202","description":"3栋电梯停运","lon":103.902,"lat":30.55175}"#,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let code = text(&o).split_whitespace().next().unwrap().to_string();
    assert!(code.starts_with("GD"), "{code}");
    for step in [
        r#"{"action":"open"}"#,
        r#"{"action":"dispatch","unit":0}"#,
        r#"{"action":"accept"}"#,
        r#"{"action":"report_back","text":"已修复"}"#,
        r#"{"action":"verify","passed":true}"#,
        r#"{"action":"rate","rating":"满意"}"#,
    ] {
        let o = linli(dir, db, &["case", "act", &code, step]);
        assert!(o.status.success(), "{step}: {}", text(&o));
    }
    let o = linli(dir, db, &["case", "act", &code, r#"{"action":"accept"}"#]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("not allowed when the case is rated"),
        "{}",
        text(&o)
    );
    let o = linli(dir, db, &["case", "show", &code]);
    assert!(
        text(&o).contains("[rated 已评价]") && text(&o).contains("蜀信物业"),
        "{}",
        text(&o)
    );
    assert_eq!(
        text(&o).matches("\n  ").count(),
        8,
        "eight timeline lines: {}",
        text(&o)
    );
    let o = linli(dir, db, &["case", "rates"]);
    assert!(
        text(&o).contains("\"satisfaction_rate\": 1.0"),
        "{}",
        text(&o)
    );
    // The first administrator, made from the command line; a weak password is refused.
    let account = |pw: &str| {
        Command::new(env!("CARGO_BIN_EXE_linli"))
            .args(["account", "--username", "admin", "--role", "district_admin"])
            .current_dir(dir)
            .env("LINLI_DB", db)
            .env("LINLI_KEY", "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=")
            .env("LINLI_NEW_PASSWORD", pw)
            .output()
            .unwrap()
    };
    let o = account("123456");
    assert!(!o.status.success());
    assert!(text(&o).contains("password"), "{}", text(&o));
    let o = account("区里的管理员-2026");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("district_admin"), "{}", text(&o));
    let o = linli(dir, db, &["case", "rates", "--period", "2026-13"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--period"), "{}", text(&o));
    // A year of history beside it; the rollup rebuilt from the rows gives the same rates.
    let o = linli(
        dir,
        db,
        &[
            "gen",
            "--people",
            "0",
            "--cases",
            "300",
            "--until",
            "2026-11-01",
        ],
    );
    assert!(text(&o).contains("loaded 300 cases"), "{}", text(&o));
    let before = text(&linli(dir, db, &["case", "rates", "--period", "2026"]));
    assert!(before.contains("\"requests\""), "{before}");
    let o = linli(dir, db, &["case", "rollup-rebuild"]);
    assert!(o.status.success(), "{}", text(&o));
    let after = text(&linli(dir, db, &["case", "rates", "--period", "2026"]));
    assert_eq!(before, after);
}

#[test]
fn cli_flow_on_sqlite_and_postgres() {
    let dir = scratch("flow");
    flow(&dir, "sqlite://flow.db");
    // Tamper with the audit log: verify fails with exit code 3.
    let url = format!("sqlite://{}", dir.join("flow.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = linli_store::Db::connect(&url).await.unwrap();
        if let linli_store::Db::Sqlite(p) = &db {
            sqlx::query("UPDATE audit_log SET actor = 'x' WHERE seq = 2")
                .execute(p)
                .await
                .unwrap();
        }
        db.close().await;
    });
    let o = linli(&dir, "sqlite://flow.db", &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("BROKEN at entry 2"), "{}", text(&o));
    on_postgres("cli", |db| {
        let pg_dir = scratch("flow_pg");
        flow(&pg_dir, db);
        let _ = std::fs::remove_dir_all(&pg_dir);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refuses_unknown_databases_and_missing_keys() {
    let dir = scratch("refuse");
    let o = linli(
        &dir,
        "mysql://root:secret@localhost/x",
        &["import", "grids", "x.geojson"],
    );
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("unsupported database URL") && !t.contains("secret"),
        "{t}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_linli"))
        .args(["import", "grids", "x.geojson", "--db", "sqlite://k.db"])
        .current_dir(&dir)
        .env_remove("LINLI_KEY")
        .env_remove("LINLI_KEY_FILE")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("no encryption key"), "{}", text(&o));
    let o = linli(&dir, "sqlite://k.db", &["serve"]);
    assert!(text(&o).contains("LINLI_ADMIN_TOKEN"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A webhook receiver on a thread: answers 200 to every POST and records
/// the delivery ids it got.
fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let g = g.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    // One request: headers, then the body by its length.
                    let (mut id, mut len) = (String::new(), 0usize);
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        let (k, v) = l.split_once(':').unwrap_or((l, ""));
                        match k.to_ascii_lowercase().as_str() {
                            "x-linli-delivery" => id = v.trim().to_string(),
                            "content-length" => len = v.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    g.lock().unwrap().push(id);
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (url, got)
}

/// A `linli serve` process on a free port; its address from its first line.
struct Server {
    child: std::process::Child,
    base: String,
}

impl Server {
    fn start(dir: &Path, db: &str) -> Server {
        use std::io::{BufRead, BufReader};
        let mut child = linli_command(dir, db, &["serve", "--listen", "127.0.0.1:0"])
            .env("LINLI_ADMIN_TOKEN", "three-servers-token-0123")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three `linli serve` processes on one database under intake load: each
/// dispatch's webhook is sent once, the audit chain verifies and the rates
/// rollup equals a rebuild from the cases.
fn three_servers(dir: &Path, db: &str) {
    use serde_json::{Value, json};
    let o = linli(dir, db, &["gen", "--people", "300", "--seed", "3"]);
    assert!(o.status.success(), "{}", text(&o));
    let (hook, got) = webhook_receiver();
    let servers: Vec<Server> = (0..3).map(|_| Server::start(dir, db)).collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    const CASES: usize = 45;
    tokio::runtime::Runtime::new().unwrap().block_on(async move {
        let http = reqwest::Client::new();
        let token = "three-servers-token-0123";
        let grids: Value = http
            .get(format!("{}/api/v1/org?kind=grid", bases[0]))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let grid = &grids[0];
        let unit: Value = http
            .post(format!("{}/api/v1/units", bases[1]))
            .bearer_auth(token)
            .json(&json!({"org_id": grid["parent_id"], "name": "三服务测试中队", "kind": "urban_management", "webhook_url": hook}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // Three clients at once, each case on a different server for each step.
        let mut load = Vec::new();
        for c in 0..3 {
            let (http, bases, grid_code, unit_id) =
                (http.clone(), bases.clone(), grid["code"].clone(), unit["id"].clone());
            load.push(tokio::spawn(async move {
                for n in (c..CASES).step_by(3) {
                    let at = |k: usize| bases[(n + k) % 3].clone();
                    let r = http
                        .post(format!("{}/api/v1/cases", at(0)))
                        .bearer_auth(token)
                        .json(&json!({"channel": "counter", "category": "0101", "description": format!("路边垃圾 {n}"), "org_code": grid_code}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
                    let case: Value = r.json().await.unwrap();
                    let id = &case["id"];
                    let opened: Value = http
                        .post(format!("{}/api/v1/cases/{id}/actions", at(1)))
                        .bearer_auth(token)
                        .json(&json!({"version": case["version"], "action": "open"}))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let r = http
                        .post(format!("{}/api/v1/cases/{id}/actions", at(2)))
                        .bearer_auth(token)
                        .json(&json!({"version": opened["version"], "action": "dispatch", "unit": unit_id}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
                }
            }));
        }
        for l in load {
            l.await.unwrap();
        }
    });
    // The jobs run every 5 s on the server holding the lease.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while got.lock().unwrap().len() < CASES && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // A little longer: a second sending would show now.
    std::thread::sleep(std::time::Duration::from_secs(6));
    drop(servers);
    let got = got.lock().unwrap().clone();
    let mut ids = got.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "a webhook was sent twice: {got:?}");
    assert_eq!(got.len(), CASES, "{db}");
    let o = linli(dir, db, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    let year = chrono_year();
    let before = text(&linli(dir, db, &["case", "rates", "--period", &year]));
    assert!(before.contains(&CASES.to_string()), "{before}");
    let o = linli(dir, db, &["case", "rollup-rebuild"]);
    assert!(o.status.success(), "{}", text(&o));
    let after = text(&linli(dir, db, &["case", "rates", "--period", &year]));
    assert_eq!(before, after, "the rollup equals the cases");
}

/// This year in Beijing, as the rates command names a period.
fn chrono_year() -> String {
    use chrono::Datelike;
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    chrono::Utc::now()
        .with_timezone(&beijing)
        .year()
        .to_string()
}

#[test]
fn three_servers_on_one_database() {
    let dir = scratch("three");
    three_servers(&dir, "sqlite://three.db");
    on_postgres("three", |db| three_servers(&dir, db));
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a round of kill -9 under intake found.
#[derive(Debug, Default, Clone, Copy)]
struct KillRound {
    sent: usize,
    acknowledged: usize,
    lost: usize,
    duplicated: usize,
}

/// Sends one request with its external id; its case id if acknowledged.
async fn send_counted_case(base: String, ext: String, grid_code: String) -> Option<i64> {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/cases"))
        .bearer_auth("three-servers-token-0123")
        .timeout(std::time::Duration::from_secs(5))
        .json(&serde_json::json!({"channel": "hotline_12345", "external_id": ext, "category": "0101", "description": format!("路边垃圾 {ext}"), "org_code": grid_code}))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json::<serde_json::Value>().await.ok()?["id"].as_i64()
}

/// One round: clients send requests (each with its own external id) to a
/// `linli serve` that is killed with SIGKILL part-way; the server is
/// started again and every request not acknowledged is sent again. Every
/// acknowledged request must be there, and each external id must have
/// exactly one case.
fn kill_round(dir: &Path, db: &str, round: usize) -> KillRound {
    use serde_json::Value;
    use std::sync::{Arc, Mutex};
    let token = "three-servers-token-0123";
    let mut server = Server::start(dir, db);
    let base = server.base.clone();
    let acked: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let grid_code = rt.block_on(async {
        let grids: Value = reqwest::Client::new()
            .get(format!("{base}/api/v1/org?kind=grid"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        grids[0]["code"].as_str().unwrap().to_string()
    });
    let send = send_counted_case;
    rt.block_on(async {
        let mut clients = Vec::new();
        for c in 0..4 {
            let (acked, sent, base, grid_code) =
                (acked.clone(), sent.clone(), base.clone(), grid_code.clone());
            clients.push(tokio::spawn(async move {
                for n in 0.. {
                    let ext = format!("kill-{round}-{c}-{n}");
                    sent.lock().unwrap().push(ext.clone());
                    match send(base.clone(), ext.clone(), grid_code.clone()).await {
                        Some(id) => acked.lock().unwrap().push((ext, id)),
                        None => return,
                    }
                }
            }));
        }
        // Kill at a moment that differs round by round.
        tokio::time::sleep(std::time::Duration::from_millis(
            400 + (round as u64 * 373) % 900,
        ))
        .await;
        server.child.kill().unwrap();
        let _ = server.child.wait();
        for c in clients {
            c.await.unwrap();
        }
    });
    let server = Server::start(dir, db);
    let base = server.base.clone();
    let acked = acked.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
    rt.block_on(async {
        // Send again whatever was not acknowledged (a client would).
        let known: std::collections::HashSet<&String> = acked.iter().map(|(e, _)| e).collect();
        for ext in sent.iter().filter(|e| !known.contains(e)) {
            assert!(
                send(base.clone(), ext.clone(), grid_code.clone())
                    .await
                    .is_some(),
                "resend {ext}"
            );
        }
    });
    let mut r = KillRound {
        sent: sent.len(),
        acknowledged: acked.len(),
        ..Default::default()
    };
    rt.block_on(async {
        let http = reqwest::Client::new();
        for (ext, id) in &acked {
            let got = http.get(format!("{base}/api/v1/cases/{id}")).bearer_auth(token).send().await.unwrap();
            if got.status() != 200 || got.json::<Value>().await.unwrap()["external_id"] != ext.as_str() {
                r.lost += 1;
            }
        }
        // Straight from the database: how many cases each external id has.
        let store_db = linli_store::Db::connect(&url_from(dir, db)).await.unwrap();
        let prefix = format!("kill-{round}-%");
        let counts: Vec<(String, i64)> = linli_store::with_db!(&store_db, p => {
            sqlx::query_as("SELECT external_id, COUNT(*) FROM service_case WHERE external_id LIKE $1 GROUP BY external_id")
                .bind(&prefix).fetch_all(p).await.unwrap()
        });
        store_db.close().await;
        r.duplicated = counts.iter().map(|(_, n)| usize::try_from(*n - 1).unwrap()).sum();
        let exts = counts;
        assert_eq!(exts.len(), sent.len(), "{db} round {round}: every request sent is there once");
    });
    drop(server);
    r
}

/// kill -9 during intake on both databases: no acknowledged request lost,
/// none duplicated when clients send again. LINLI_FAULT_ROUNDS sets the
/// rounds (3 by default; the benchmark's fault suite runs more).
#[test]
fn kill_9_during_intake_loses_and_duplicates_nothing() {
    let rounds: usize = std::env::var("LINLI_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let run = |dir: &Path, db: &str, name: &str| {
        let o = linli(dir, db, &["gen", "--people", "200", "--seed", "4"]);
        assert!(o.status.success(), "{}", text(&o));
        let mut total = KillRound::default();
        for round in 0..rounds {
            let r = kill_round(dir, db, round);
            assert_eq!(
                (r.lost, r.duplicated),
                (0, 0),
                "{name} round {round}: {r:?}"
            );
            total.sent += r.sent;
            total.acknowledged += r.acknowledged;
        }
        eprintln!(
            "FAULTS {name}: {rounds} kill -9 rounds, {} sent, {} acknowledged, 0 lost, 0 duplicated",
            total.sent, total.acknowledged
        );
    };
    let dir = scratch("kill9");
    run(&dir, "sqlite://kill9.db", "sqlite");
    on_postgres("kill9", |url| run(&dir, url, "postgres"));
}

/// People in the database behind `db` (a sqlite:// URL relative to `dir`).
fn people_in(dir: &Path, db: &str) -> i64 {
    run_sql(dir, db, "SELECT COUNT(*) FROM person", true)
}

/// Runs one statement on the database behind `db`: a count (`count`) or a
/// change (how many rows it changed).
fn run_sql(dir: &Path, db: &str, sql: &'static str, count: bool) -> i64 {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store_db = linli_store::Db::connect(&url_from(dir, db)).await.unwrap();
        let n: i64 = linli_store::with_db!(&store_db, p => {
            if count {
                sqlx::query_scalar(sql).fetch_one(p).await.unwrap()
            } else {
                i64::try_from(sqlx::query(sql).execute(p).await.unwrap().rows_affected()).unwrap()
            }
        });
        store_db.close().await;
        n
    })
}

/// One round of kill -9 during a registry import: the import is killed a
/// little after it started writing (`delay_ms` after its first progress
/// line). Returns whether it was killed before it finished.
fn kill_import_round(dir: &Path, db: &str, people: i64, delay_ms: u64) -> bool {
    use std::io::{BufRead, BufReader};
    let o = linli(dir, db, &["import", "grids", "gen/grids.geojson"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut child = linli_command(dir, db, &["import", "registry", "gen/registry.csv"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while log.read_line(&mut line).unwrap() > 0 && !line.contains("written, not yet committed") {
        line.clear();
    }
    assert!(line.contains("written"), "the import never wrote: {line}");
    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    let _ = child.wait();
    let found = people_in(dir, db);
    if finished {
        assert_eq!(found, people, "{db}: a finished import is all there");
    } else {
        assert!(
            found == 0 || found == people,
            "{db}: a killed import left {found} of {people} people (half-written)"
        );
    }
    // Run again, it goes in whole, and the audit log is intact.
    let o = linli(dir, db, &["import", "registry", "gen/registry.csv"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(people_in(dir, db), people, "{db}: the second import");
    let o = linli(dir, db, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    !finished && found == 0
}

/// kill -9 during a registry import on both databases (three moments per
/// database, a new database each): a killed import leaves nothing of its
/// file, the next one goes in whole, the audit log verifies.
#[test]
fn kill_9_during_an_import_leaves_nothing_half_written() {
    const PEOPLE: i64 = 6000;
    let dir = scratch("killimport");
    let o = linli(
        &dir,
        "sqlite://files.db",
        &["gen", "--people", "6000", "--seed", "7", "--out", "gen"],
    );
    assert!(o.status.success(), "{}", text(&o));
    for (name, delays) in [("sqlite", [0u64, 150, 600]), ("postgres", [0, 150, 600])] {
        let mut killed = 0;
        for (round, delay) in delays.into_iter().enumerate() {
            if name == "sqlite" {
                let db = format!("sqlite://import{round}.db");
                killed += usize::from(kill_import_round(&dir, &db, PEOPLE, delay));
            } else {
                on_postgres(&format!("killimport{round}"), |url| {
                    killed += usize::from(kill_import_round(&dir, url, PEOPLE, delay));
                });
            }
        }
        if name == "sqlite" || std::env::var("LINLI_TEST_PG_URL").is_ok() {
            assert!(killed > 0, "{name}: no round killed an import part-way");
            eprintln!(
                "FAULTS {name}: kill -9 during a {PEOPLE}-row registry import, 3 rounds, {killed} killed part-way: 0 rows half-written, every re-run whole, audit log intact"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A database from before migrations 9 and 19 (clear birth dates, no ID
/// masks, reporters' names in clear): `linli serve` answers at once and
/// seals those rows in the background.
#[test]
fn a_server_seals_legacy_rows_while_it_answers() {
    let run = |dir: &Path, db: &str| {
        let o = linli(
            dir,
            db,
            &["gen", "--people", "3000", "--cases", "3000", "--seed", "8"],
        );
        assert!(o.status.success(), "{}", text(&o));
        const UNSEALED: &str = "SELECT COUNT(*) FROM person WHERE birth_date IS NOT NULL OR (id_enc IS NOT NULL AND id_masked IS NULL)";
        const CLEAR_NAMES: &str = "SELECT COUNT(*) FROM service_case WHERE reporter_name IS NOT NULL AND (reporter_name_enc IS NULL OR reporter_name NOT LIKE '_**')";
        let names = run_sql(
            dir,
            db,
            "UPDATE service_case SET reporter_name = '张三丰', reporter_name_enc = NULL WHERE reporter_name IS NOT NULL",
            false,
        );
        assert!(names > 1000, "{db}: {names} cases with a clear name");
        let made = run_sql(
            dir,
            db,
            "UPDATE person SET birth_date = '1970-01-01', id_masked = NULL WHERE id_enc IS NOT NULL",
            false,
        );
        assert!(made > 1000, "{db}: {made} legacy rows");
        let server = Server::start(dir, db);
        let health = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(reqwest::get(format!("{}/healthz", server.base)))
            .unwrap();
        assert_eq!(health.status(), 200);
        let started = std::time::Instant::now();
        while run_sql(dir, db, UNSEALED, true) + run_sql(dir, db, CLEAR_NAMES, true) > 0 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "{db}: legacy rows still unsealed after a minute"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        drop(server);
    };
    let dir = scratch("legacy");
    run(&dir, "sqlite://legacy.db");
    on_postgres("legacy", |url| run(&dir, url));
    let _ = std::fs::remove_dir_all(&dir);
}
