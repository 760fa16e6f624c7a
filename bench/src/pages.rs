//! Pages and lists at city scale (issue 13): the time to first byte of every
//! page and list operation for each role, on a database made by `linli gen`
//! (people and a year of cases), served on loopback in this process. Each
//! role signs in and walks its pages with their filters, including the
//! second and the hundredth page of its lists (reached by following the
//! pages' own links); then the district's case export is timed with the
//! peak memory it takes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use linli_store::accounts::NewAccount;
use linli_store::{Scope, Store, Vault, with_db};
use serde_json::{Value, json};

use crate::intake::percentile;

const PASSWORD: &str = "Bench-pages-2026!";

/// One role of the walk: its account and the org unit (or unit) it serves.
struct Role {
    name: &'static str,
    role: &'static str,
    org_code: Option<String>,
    unit_id: Option<i64>,
    /// Pages it may open.
    pages: Vec<String>,
}

fn vault(key_file: Option<&str>) -> Result<Vault> {
    match key_file {
        Some(f) => {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?;
            Ok(Vault::from_base64(text.trim())?)
        }
        None => Ok(Vault::new([9; 32])),
    }
}

/// The busiest area of each depth, found from the fine rollup (the case
/// rows are not scanned): the grid with most cases, and its community,
/// subdistrict and district.
async fn busiest_grid(store: &Store) -> Result<String> {
    let path: Option<String> = with_db!(&store.db, p => {
        sqlx::query_scalar("SELECT area FROM case_rollup_fine WHERE category = '' GROUP BY area ORDER BY SUM(requests) DESC, area LIMIT 1")
            .fetch_optional(p).await?
    });
    path.context("no cases: make the database with `linli gen --people N --cases M`")
}

/// A compound's point in an area: where a resident would report from (the
/// nearby open cases are looked up around it).
async fn point_in(store: &Store, area: &str) -> Result<(f64, f64)> {
    let p: Option<(f64, f64)> = with_db!(&store.db, p => {
        sqlx::query_as("SELECT c.lon, c.lat FROM compound c JOIN org_unit g ON g.id = c.grid_id WHERE g.path LIKE $1 AND c.lon IS NOT NULL ORDER BY c.id LIMIT 1")
            .bind(format!("{area}%")).fetch_optional(p).await?
    });
    p.with_context(|| format!("no compound with a point in {area}"))
}

async fn code_of(store: &Store, path: &str) -> Result<String> {
    let code: Option<String> = with_db!(&store.db, p => {
        sqlx::query_scalar("SELECT code FROM org_unit WHERE path = $1").bind(path).fetch_optional(p).await?
    });
    code.with_context(|| format!("no org unit at {path}"))
}

/// The session cookie of a signed-in account (made if missing).
async fn session_of(store: &Store, r: &Role) -> Result<String> {
    let username = format!("bench.{}", r.name);
    let made = store
        .create_account(
            "bench",
            &NewAccount {
                username: username.clone(),
                display_name: String::new(),
                role: r.role.into(),
                password: PASSWORD.into(),
                org_code: r.org_code.clone(),
                unit_id: r.unit_id,
            },
        )
        .await;
    if let Err(e) = made
        && !e.to_string().contains("exists")
        && !e.to_string().contains("taken")
    {
        bail!("account {username}: {e}");
    }
    let now = chrono::Utc::now().timestamp_millis();
    let (token, _) = store.login(&username, PASSWORD, now).await?;
    Ok(format!("{}={token}", linli_web::SESSION_COOKIE))
}

/// Time to first byte of one GET (the body is then read and dropped).
async fn ttfb(client: &reqwest::Client, url: &str, cookie: Option<&str>) -> Result<(f64, String)> {
    let mut req = client.get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let t = Instant::now();
    let resp = req.send().await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        bail!(
            "GET {url}: HTTP {status}: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    Ok((ms, body))
}

/// The `href` of the page's next-page link, if any.
fn next_link(body: &str) -> Option<String> {
    let at = body.find("id=\"next-page\"")?;
    let start = body[..at].rfind("href=\"")? + 6;
    let end = start + body[start..].find('"')?;
    Some(body[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

/// The `before` cursor of the n-th page of an API list.
async fn api_cursor(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    pages: usize,
) -> Result<Option<i64>> {
    let mut before: Option<i64> = None;
    for _ in 1..pages {
        let url = match before {
            Some(b) => format!("{base}/api/v1/cases?limit=50&before={b}"),
            None => format!("{base}/api/v1/cases?limit=50"),
        };
        let (_, body) = ttfb(client, &url, Some(cookie)).await?;
        let list: Vec<Value> = serde_json::from_str(&body)?;
        match list.last().and_then(|c| c["id"].as_i64()) {
            Some(id) if list.len() == 50 => before = Some(id),
            _ => return Ok(None),
        }
    }
    Ok(before)
}

/// The URL of the n-th page of a page list, by following its links.
async fn nth_page(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    first: &str,
    n: usize,
) -> Result<Option<String>> {
    let mut url = first.to_string();
    for _ in 1..n {
        let (_, body) = ttfb(client, &format!("{base}{url}"), Some(cookie)).await?;
        match next_link(&body) {
            Some(next) => url = next,
            None => return Ok(None),
        }
    }
    Ok(Some(url))
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub async fn run(url: &str, key_file: Option<&str>, repeat: usize, export: bool) -> Result<()> {
    let is_pg = url.starts_with("postgres");
    let store = Store::open(url, vault(key_file)?).await?;
    let grid = busiest_grid(&store).await?;
    let ids: Vec<&str> = grid.trim_matches('/').split('/').collect();
    if ids.len() < 4 {
        bail!("the busiest area {grid} is not below a community");
    }
    let at = |d: usize| format!("/{}/", ids[..d].join("/"));
    let (district, subdistrict, community) = (at(2), at(3), at(4));
    let (lon, lat) = point_in(&store, &grid).await?;
    let nearby = format!("/ui/nearby?lon={lon}&lat={lat}&category=0601");
    let unit: Option<i64> = with_db!(&store.db, p => {
        sqlx::query_scalar("SELECT unit_id FROM case_rollup WHERE unit_id <> 0 AND category = '' GROUP BY unit_id ORDER BY SUM(requests) DESC LIMIT 1")
            .fetch_optional(p).await?
    });
    let staff = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "/cases",
            "/cases?state=handling",
            "/cases?overdue=1",
            "/cases?sort=due",
            "/cases?q=路灯",
            "/api/v1/cases?limit=50",
            "/todo",
            "/ui/todo-count",
            "/ui/bell",
            "/notifications",
            "/api/v1/todo",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
        v.push("PAGE2:/cases".into());
        v.push("PAGE100:/cases".into());
        v.push("APIPAGE100".into());
        v
    };
    let mut roles = vec![
        Role {
            name: "grid",
            role: "grid_member",
            org_code: Some(code_of(&store, &grid).await?),
            unit_id: None,
            pages: {
                let mut v = staff(&["/grid", "/registry", "/registry?tag=elderly_alone"]);
                v.push(nearby.clone());
                v.push("PAGE2:/registry".into());
                v
            },
        },
        Role {
            name: "community",
            role: "community_worker",
            org_code: Some(code_of(&store, &community).await?),
            unit_id: None,
            pages: {
                let mut v = staff(&[
                    "/dashboard",
                    "/grid",
                    "/registry",
                    "/registry?tag=elderly_alone",
                    "/api/v1/rates?period=2026",
                ]);
                v.push("PAGE2:/registry".into());
                v.push("PAGE100:/registry".into());
                v
            },
        },
        Role {
            name: "subdistrict",
            role: "subdistrict_staff",
            org_code: Some(code_of(&store, &subdistrict).await?),
            unit_id: None,
            pages: {
                let mut v = staff(&[
                    "/dashboard",
                    "/grid",
                    "/registry",
                    "/registry?tag=elderly_alone",
                    "/api/v1/rates?period=2026",
                ]);
                v.push("PAGE100:/registry".into());
                v
            },
        },
        Role {
            name: "district",
            role: "district_admin",
            org_code: Some(code_of(&store, &district).await?),
            unit_id: None,
            pages: {
                let mut v = staff(&[
                    "/dashboard",
                    "/grid",
                    "/registry",
                    "/registry?tag=elderly_alone",
                    "/api/v1/rates?period=2026",
                    "/api/v1/stats",
                ]);
                v.push("PAGE100:/registry".into());
                v
            },
        },
    ];
    if let Some(u) = unit {
        roles.push(Role {
            name: "unit",
            role: "unit_handler",
            org_code: None,
            unit_id: Some(u),
            pages: staff(&[]),
        });
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = linli_web::AppState::new(store.clone(), "bench-pages-token-0123456789".into());
    tokio::spawn(async move { linli_web::serve(listener, state).await });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;

    let mut rows = Vec::new();
    let mut measure = |role: &str, page: &str, lat: &mut Vec<f64>| {
        lat.sort_by(f64::total_cmp);
        let r = json!({"role": role, "page": page, "n": lat.len(),
            "p50_ms": percentile(lat, 0.50), "p95_ms": percentile(lat, 0.95), "p99_ms": percentile(lat, 0.99)});
        eprintln!("{r}");
        rows.push(r);
    };
    // Anonymous pages.
    for page in [
        "/healthz",
        "/",
        "/open311/v2/requests.json",
        "/open311/v2/requests.json?status=open",
    ] {
        let mut lat = Vec::new();
        ttfb(&client, &format!("{base}{page}"), None).await?;
        for _ in 0..repeat {
            lat.push(ttfb(&client, &format!("{base}{page}"), None).await?.0);
        }
        measure("anonymous", page, &mut lat);
    }
    for r in &roles {
        let cookie = session_of(&store, r).await?;
        for page in &r.pages {
            let (label, url) = if page == "APIPAGE100" {
                match api_cursor(&client, &base, &cookie, 100).await? {
                    Some(b) => (
                        "/api/v1/cases?limit=50 (page 100)".to_string(),
                        format!("/api/v1/cases?limit=50&before={b}"),
                    ),
                    None => continue,
                }
            } else if let Some((n, first)) = page.split_once(':') {
                let n: usize = n.trim_start_matches("PAGE").parse()?;
                match nth_page(&client, &base, &cookie, first, n).await? {
                    Some(u) => (format!("{first} (page {n})"), u),
                    None => continue,
                }
            } else {
                (page.clone(), page.clone())
            };
            let full = format!("{base}{url}");
            ttfb(&client, &full, Some(&cookie)).await?;
            let mut lat = Vec::new();
            for _ in 0..repeat {
                lat.push(ttfb(&client, &full, Some(&cookie)).await?.0);
            }
            measure(r.name, &label, &mut lat);
        }
    }

    // Case exports: the district's as CSV (a twentieth of a city), the
    // subdistrict's as xlsx (an Excel sheet holds at most 1,048,575 rows):
    // rows/s and the peak memory of the whole process while it runs.
    let mut exports = Vec::new();
    if export {
        for (role_name, area, ext) in [
            ("district", &district, "csv"),
            ("subdistrict", &subdistrict, "xlsx"),
        ] {
            let role = roles
                .iter()
                .find(|r| r.name == role_name)
                .context("export role")?;
            let cookie = session_of(&store, role).await?;
            let (lo, hi) = Scope::Subtree(
                linli_core::org::OrgPath::parse(area).map_err(|e| anyhow::anyhow!("{e:?}"))?,
            )
            .bounds();
            let rows: i64 = with_db!(&store.db, p => {
                sqlx::query_scalar("SELECT CAST(SUM(requests) AS BIGINT) FROM case_rollup WHERE area >= $1 AND area < $2 AND category = ''")
                    .bind(lo).bind(hi).fetch_one(p).await?
            });
            // Peak memory counted from here (Linux: 5 resets VmHWM). The
            // resident size includes the pages of the database file that
            // SQLite maps (mmap) and its page cache; the anonymous part
            // (heap: rows, buffers, the file being written) is sampled too.
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let before = rss_kib("VmRSS:");
            let anon_before = rss_kib("RssAnon:");
            let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
            let sampler = {
                let sampling = sampling.clone();
                tokio::spawn(async move {
                    let mut peak = 0;
                    while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                        peak = peak.max(rss_kib("RssAnon:"));
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    peak
                })
            };
            let t = Instant::now();
            let mut resp = client
                .get(format!("{base}/api/v1/export/cases.{ext}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            let status = resp.status();
            let mut bytes = 0u64;
            while let Some(chunk) = resp.chunk().await? {
                bytes += chunk.len() as u64;
            }
            let secs = t.elapsed().as_secs_f64();
            sampling.store(false, std::sync::atomic::Ordering::Relaxed);
            let anon_peak = sampler.await?;
            if !status.is_success() {
                bail!("export {ext}: HTTP {status}");
            }
            let r = json!({"role": role_name, "format": ext, "rows": rows, "bytes": bytes, "seconds": secs,
                "rows_per_s": rows as f64 / secs,
                "rss_before_mib": before / 1024, "peak_rss_mib": rss_kib("VmHWM:") / 1024,
                "anon_before_mib": anon_before / 1024, "anon_peak_mib": anon_peak / 1024,
                "anon_growth_mib": anon_peak.saturating_sub(anon_before) / 1024});
            eprintln!("{r}");
            exports.push(r);
        }
    }
    println!(
        "{}",
        json!({
            "workload": "pages",
            "backend": if is_pg { "postgres" } else { "sqlite" },
            "repeat": repeat,
            "areas": {"grid": grid, "community": community, "subdistrict": subdistrict, "district": district},
            "rows": rows,
            "exports": exports,
        })
    );
    Ok(())
}
