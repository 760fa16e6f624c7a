//! The HTTP interface served on a real port, on SQLite and PostgreSQL; one
//! module a capability (registry API, cases and Open311, accounts,
//! authorisation, pages, several servers), shared helpers here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod api;
mod authz;
mod cases;
mod pages;
mod privacy;
mod servers;

use std::sync::Arc;

use linli_store::Store;

use linli_store::import::read_xlsx;

use linli_store::testkit::each_backend;

use linli_web::AppState;

use reqwest::StatusCode;

use serde_json::Value;

const TOKEN: &str = "test-token-0123456789";

struct App {
    base: String,
    http: reqwest::Client,
}

impl App {
    async fn spawn(store: Store) -> App {
        App::spawn_state(AppState::new(store, TOKEN.into())).await
    }
    async fn spawn_state(state: AppState) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { linli_web::serve(listener, state).await });
        App {
            base,
            http: reqwest::Client::new(),
        }
    }
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }
    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }
}

/// A webhook as a receiver got it.
#[derive(Clone, Debug)]
struct Delivery {
    delivery_id: String,
    event: String,
    signature: String,
    body: String,
}

/// A unit's webhook receiver on a free port: it records every delivery
/// and fails the first `failures` with a 500. `/moved` redirects to the
/// cloud metadata address (a sender must not follow).
struct WebhookReceiver {
    url: String,
    got: Arc<std::sync::Mutex<Vec<Delivery>>>,
}

impl WebhookReceiver {
    async fn start(failures: u32) -> WebhookReceiver {
        use axum::http::{HeaderMap, StatusCode};
        use axum::routing::post;
        let got: Arc<std::sync::Mutex<Vec<Delivery>>> = Arc::default();
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let g = got.clone();
        let router = axum::Router::new()
            .route(
                "/moved",
                post(|| async {
                    axum::response::Redirect::temporary("http://169.254.169.254/latest/meta-data")
                }),
            )
            .route(
                "/hook",
                post(move |headers: HeaderMap, body: String| {
                    let (g, calls) = (g.clone(), calls.clone());
                    async move {
                        let h = |k: &str| {
                            headers
                                .get(k)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string()
                        };
                        g.lock().unwrap().push(Delivery {
                            delivery_id: h("x-linli-delivery"),
                            event: h("x-linli-event"),
                            signature: h("x-linli-signature"),
                            body,
                        });
                        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < failures {
                            StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            StatusCode::OK
                        }
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        WebhookReceiver { url, got }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }
}

const GRIDS: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"code":"320104001001001","name":"一网格","subdistrict_name":"<script>alert(1)</script>街道"},
  "geometry":{"type":"Polygon","coordinates":[[[118.78,32.02],[118.79,32.02],[118.79,32.03],[118.78,32.03],[118.78,32.02]]]}}
]}"#;

const REGISTRY: &str = "网格编码,小区,楼栋,单元,房号,建筑面积,姓名,身份证号,手机号,与房屋关系,标签
320104001001001,桃叶渡小区,1栋,1单元,101,89.5,王秀英,11010519491231002X,13800138000,业主,独居老人
";

/// A signed-in browser: its session cookie and CSRF token.
struct Signed {
    cookie: String,
    csrf: String,
}

async fn sign_in(app: &App, username: &str, password: &str) -> Signed {
    let r = app
        .http
        .post(format!("{}/api/v1/login", app.base))
        .body(serde_json::json!({"username": username, "password": password}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "sign in {username}");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    Signed { cookie, csrf }
}

impl App {
    /// A request as a signed-in account (cookie + CSRF token).
    fn as_account(&self, who: &Signed, method: &str, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.base);
        let rb = match method {
            "get" => self.http.get(url),
            "post" => self.http.post(url),
            "put" => self.http.put(url),
            other => panic!("method {other}"),
        };
        rb.header("cookie", &who.cookie)
            .header("x-csrf-token", &who.csrf)
    }
}

const MATRIX_PASSWORD: &str = "Matrix-口令-2026";

const GRID_B: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"320104001002001","name":"三网格"},
 "geometry":{"type":"Polygon","coordinates":[[[118.80,32.02],[118.81,32.02],[118.81,32.03],[118.80,32.03],[118.80,32.02]]]}}]}"#;

const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];

/// The objects of community A (in the accounts' scope) and community B.
struct Objects {
    community: [i64; 2],
    grid: [i64; 2],
    person: [i64; 2],
    case: [i64; 2],
    photo: [i64; 2],
    unit: [i64; 2],
    /// A case in community A that no matrix account reported or handles.
    stranger_case: i64,
}

async fn admin_json(app: &App, method: &str, path: &str, body: String) -> Value {
    let rb = match method {
        "get" => app.get(path),
        "post" => app.post(path).body(body),
        _ => panic!(),
    };
    let r = rb.send().await.unwrap();
    assert!(
        r.status().is_success(),
        "{method} {path}: {:?}",
        r.text().await
    );
    r.json().await.unwrap()
}

/// Two communities (A, B), each with a grid, a person, a handling unit,
/// a dispatched case with a photo; an account of every role in A (a
/// resident who reported A's case, a handler of A's unit).
async fn matrix_fixture(app: &App) -> Objects {
    admin_json(app, "post", "/api/v1/import/registry?format=csv",
        format!("{REGISTRY}320104001002001,秦淮小区,2栋,1单元,201,70,赵六,110105198001010016,13900139000,业主,\n")).await;
    let mut o = Objects {
        community: [0; 2],
        grid: [0; 2],
        person: [0; 2],
        case: [0; 2],
        photo: [0; 2],
        unit: [0; 2],
        stranger_case: 0,
    };
    for (i, (lon, name)) in [(118.785, "王秀英"), (118.805, "赵六")]
        .into_iter()
        .enumerate()
    {
        let g = admin_json(
            app,
            "get",
            &format!("/api/v1/locate?lon={lon}&lat=32.025"),
            String::new(),
        )
        .await;
        o.grid[i] = g["grid"]["id"].as_i64().unwrap();
        o.community[i] = g["grid"]["parent_id"].as_i64().unwrap();
        let people = admin_json(app, "get", "/api/v1/people", String::new()).await;
        o.person[i] = people
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let u = admin_json(
            app,
            "post",
            "/api/v1/units",
            format!(
                r#"{{"org_id":{},"name":"物业{i}","kind":"property"}}"#,
                o.community[i]
            ),
        )
        .await;
        o.unit[i] = u["id"].as_i64().unwrap();
    }
    for role in linli_core::access::Role::ALL {
        let mut a = serde_json::json!({"username": format!("m.{}", role.code()), "role": role.code(), "password": MATRIX_PASSWORD});
        if role.needs_unit() {
            a["unit_id"] = o.unit[0].into();
        } else if role.needs_org()
            && !matches!(
                role,
                linli_core::access::Role::DistrictAdmin | linli_core::access::Role::Auditor
            )
        {
            a["org_code"] = "320104001001".into();
        }
        admin_json(app, "post", "/api/v1/accounts", a.to_string()).await;
    }
    // A's case is reported by the matrix resident through the portal.
    let resident = sign_in(app, "m.resident", MATRIX_PASSWORD).await;
    let r = app
        .as_account(&resident, "post", "/api/v1/cases")
        .body(r#"{"channel":"counter","description":"楼道堆物","lon":118.785,"lat":32.025}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let mine: Value = r.json().await.unwrap();
    assert_eq!(
        mine["channel"], "self_report",
        "a resident's report is a self-report"
    );
    o.case[0] = mine["id"].as_i64().unwrap();
    let b = admin_json(
        app,
        "post",
        "/api/v1/cases",
        r#"{"channel":"counter","description":"路灯不亮","lon":118.805,"lat":32.025}"#.into(),
    )
    .await;
    o.case[1] = b["id"].as_i64().unwrap();
    for i in 0..2 {
        let id = o.case[i];
        let path = format!("/api/v1/cases/{id}/actions");
        let act = |body: String| admin_json(app, "post", &path, body);
        let c = admin_json(app, "get", &format!("/api/v1/cases/{id}"), String::new()).await;
        let c = act(format!(
            r#"{{"version":{},"action":"classify","category":"0601"}}"#,
            c["version"]
        ))
        .await;
        let c = act(format!(r#"{{"version":{},"action":"open"}}"#, c["version"])).await;
        act(format!(
            r#"{{"version":{},"action":"dispatch","unit":{}}}"#,
            c["version"], o.unit[i]
        ))
        .await;
        let p = app
            .post(&format!("/api/v1/cases/{id}/photos"))
            .body(JPEG.to_vec())
            .send()
            .await
            .unwrap();
        o.photo[i] = p.json::<Value>().await.unwrap()["photo"]["id"]
            .as_i64()
            .unwrap();
    }
    let c = admin_json(
        app,
        "post",
        "/api/v1/cases",
        r#"{"channel":"counter","description":"噪声扰民","lon":118.785,"lat":32.025}"#.into(),
    )
    .await;
    o.stranger_case = c["id"].as_i64().unwrap();
    o
}

/// What a probe touches: the path's {id}.
#[derive(Clone, Copy, PartialEq)]
enum Obj {
    None,
    Community,
    Person,
    Case,
    Photo,
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";
