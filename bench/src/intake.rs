//! Case intake over HTTP (loopback) against the raw insert ceiling: the
//! same database, the same concurrency, one durable commit per row.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use linli_store::{Db, Scope, Store, Vault, with_db};
use serde_json::json;

#[expect(
    clippy::cast_possible_truncation,
    reason = "p is in [0, 1], so the index is within the slice"
)]
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `n` jobs on `c` workers; returns (seconds, sorted latencies in ms).
async fn drive<F, Fut>(n: usize, c: usize, job: F) -> Result<(f64, Vec<f64>)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..c {
        let (job, next) = (job.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                job(i).await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    Ok((secs, all))
}

pub async fn run(url: &str, requests: usize, concurrency: usize) -> Result<()> {
    let schema = format!("bench_intake_{}", std::process::id());
    let is_pg = url.starts_with("postgres");
    if is_pg && let Db::Postgres(p) = &Db::connect(url).await? {
        {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(p)
                .await?;
        }
    }
    let db = Db::connect_with_schema(url, is_pg.then_some(schema.as_str())).await?;
    let store = Store::open_db(db, Vault::new([9; 32])).await?;
    store.load_synth(5_000, 1, &|_, _| {}).await?;
    let points: Vec<(f64, f64)> = store
        .compounds(&Scope::Everything, None)
        .await?
        .iter()
        .filter_map(|c| Some((c.lon?, c.lat?)))
        .collect();
    let cats: Vec<String> = store
        .categories()
        .await?
        .into_iter()
        .filter(|c| c.is_leaf())
        .map(|c| c.code)
        .collect();

    // The server on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let token = "bench-token-0123456789".to_string();
    let state = linli_web::AppState::new(store.clone(), token.clone());
    tokio::spawn(async move { linli_web::serve(listener, state).await });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let body = move |i: usize| {
        let (lon, lat) = points[i % points.len()];
        json!({"channel": "api", "category": cats[i % cats.len()], "description": format!("基准测试诉求 {i}：楼道灯不亮"),
               "lon": lon, "lat": lat, "reporter_phone": "13800138000"})
        .to_string()
    };
    let body = Arc::new(body);
    let post = {
        let (client, base, token, body) =
            (client.clone(), base.clone(), token.clone(), body.clone());
        move |i: usize| {
            let (client, base, token, body) =
                (client.clone(), base.clone(), token.clone(), body.clone());
            async move {
                let r = client
                    .post(format!("{base}/api/v1/cases"))
                    .bearer_auth(&token)
                    .body(body(i))
                    .send()
                    .await?;
                anyhow::ensure!(
                    r.status().is_success(),
                    "HTTP {}: {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                );
                Ok(())
            }
        }
    };
    let warm = (requests / 20).clamp(50, 1000);
    drive(warm, concurrency, post.clone())
        .await
        .context("warm-up")?;
    let (secs, lat) = drive(requests, concurrency, post).await.context("intake")?;

    // The ceiling: one INSERT of a case-sized row per durable commit.
    with_db!(&store.db, p => {
        sqlx::query("CREATE TABLE bench_ceiling (id BIGINT, channel TEXT, title TEXT, description TEXT, lon DOUBLE PRECISION, lat DOUBLE PRECISION, scope_path TEXT, created_at BIGINT)")
            .execute(p).await?;
    });
    // Two ways to reach the ceiling: every worker on its own pooled
    // connection, and (SQLite, one writer at a time) through one turn, which
    // spares SQLite's sleeping busy handler. The better of the two is the limit.
    let mut ceilings = Vec::new();
    for serial in [false, true] {
        if serial && is_pg {
            continue;
        }
        let db = store.db.clone();
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        let offset = if serial { 10 * requests } else { 0 };
        let insert = move |i: usize| {
            let (db, turn) = (db.clone(), turn.clone());
            let i = i + offset;
            async move {
                let _turn = if serial {
                    Some(turn.lock().await)
                } else {
                    None
                };
                with_db!(&db, p => {
                    sqlx::query("INSERT INTO bench_ceiling (id, channel, title, description, lon, lat, scope_path, created_at) VALUES ($1, 'api', '楼道灯不亮', $2, 104.0, 30.6, '/1/2/3/', $3)")
                        .bind(i as i64).bind(format!("基准测试诉求 {i}：楼道灯不亮")).bind(i as i64)
                        .execute(p).await?;
                });
                Ok(())
            }
        };
        drive(warm, concurrency, insert.clone()).await?;
        let (c_secs, c_lat) = drive(requests, concurrency, insert).await?;
        ceilings.push((serial, requests as f64 / c_secs, c_lat));
    }
    ceilings.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (c_serial, c_rate, c_lat) = ceilings.swap_remove(0);
    let cases = store
        .cases(&Scope::Everything, &Default::default())
        .await?
        .len();
    anyhow::ensure!(cases > 0, "no case was stored");
    if is_pg {
        store.db.close().await;
        if let Db::Postgres(p) = &Db::connect(url).await? {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(p)
                .await?;
        }
    }
    println!(
        "{}",
        json!({
            "workload": "case_intake",
            "backend": if is_pg { "postgres" } else { "sqlite" },
            "requests": requests,
            "concurrency": concurrency,
            "intake_per_s": requests as f64 / secs,
            "intake_p50_ms": percentile(&lat, 0.50),
            "intake_p99_ms": percentile(&lat, 0.99),
            "ceiling_per_s": c_rate,
            "ceiling_how": if c_serial { "one connection, one row per commit" } else { "16 connections, one row per commit" },
            "ceiling_other_per_s": ceilings.first().map(|c| c.1),
            "ceiling_p50_ms": percentile(&c_lat, 0.50),
            "ceiling_p99_ms": percentile(&c_lat, 0.99),
            "ratio_of_ceiling": (requests as f64 / secs) / c_rate,
        })
    );
    Ok(())
}
