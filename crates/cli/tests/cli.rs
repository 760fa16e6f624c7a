//! The `linli` binary as a user runs it: generate files, import them,
//! refuse a bad file without writing, export, verify the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn linli(dir: &Path, db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linli"))
        .args(args)
        .current_dir(dir)
        .env("LINLI_DB", db)
        .env("LINLI_KEY", "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=")
        .env_remove("LINLI_KEY_FILE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
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
    let bad_row = format!("row {}, relation: unknown Relation 'landlord'", at + 1);
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
    assert!(text(&o).contains("intact: 3 entries"), "{}", text(&o));

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
    if let Ok(url) = std::env::var("LINLI_TEST_PG_URL") {
        let schema = format!("cli_{}", std::process::id());
        let psql = |sql: &str| {
            let st = Command::new("psql")
                .args([url.as_str(), "-q", "-c", sql])
                .status()
                .unwrap();
            assert!(st.success(), "psql {sql}");
        };
        psql(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ));
        let sep = if url.contains('?') { '&' } else { '?' };
        let db = format!("{url}{sep}options=-c%20search_path%3D{schema}");
        let pg_dir = scratch("flow_pg");
        flow(&pg_dir, &db);
        psql(&format!("DROP SCHEMA {schema} CASCADE"));
        let _ = std::fs::remove_dir_all(&pg_dir);
    }
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
