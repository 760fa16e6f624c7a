//! The HTTP interface, served on a real port, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(store, TOKEN.into());
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

const GRIDS: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"code":"320104001001001","name":"一网格","subdistrict_name":"<script>alert(1)</script>街道"},
  "geometry":{"type":"Polygon","coordinates":[[[118.78,32.02],[118.79,32.02],[118.79,32.03],[118.78,32.03],[118.78,32.02]]]}}
]}"#;

const REGISTRY: &str = "网格编码,小区,楼栋,单元,房号,建筑面积,姓名,身份证号,手机号,与房屋关系,标签
320104001001001,桃叶渡小区,1栋,1单元,101,89.5,王秀英,11010519491231002X,13800138000,业主,独居老人
";

#[tokio::test]
async fn api_end_to_end() {
    each_backend(|store, be| async move {
        let app = App::spawn(store).await;
        let r = app
            .http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}");

        // No token, wrong token.
        let r = app
            .http
            .get(format!("{}/api/v1/stats", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");
        let r = app
            .http
            .get(format!("{}/api/v1/stats", app.base))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        // Grids, then a registry file.
        let r = app
            .post("/api/v1/import/grids")
            .body(GRIDS)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
        let r = app
            .post("/api/v1/import/registry?format=csv")
            .body(REGISTRY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
        let report: Value = r.json().await.unwrap();
        assert_eq!(report["created"]["people"], 1);

        // A bad file: 422 with the row and field, nothing written.
        let bad = format!("{REGISTRY}320104001001001,桃叶渡小区,1栋,1单元,102,-5,李强,,139,,\n");
        let r = app
            .post("/api/v1/import/registry")
            .header("content-type", "text/csv")
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = r.json().await.unwrap();
        let rows = body["rows"].as_array().unwrap();
        assert!(
            rows.iter()
                .any(|e| e["row"] == 3 && e["field"] == "floor_area"),
            "{body}"
        );
        assert!(
            rows.iter().any(|e| e["row"] == 3 && e["field"] == "phone"),
            "{body}"
        );
        let stats: Value = app
            .get("/api/v1/stats")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats["people"], 1);
        assert_eq!(stats["dwellings"], 1);
        let r = app
            .post("/api/v1/import/registry")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "format");

        // People are masked; a full view needs a reason and is audited.
        let people: Value = app
            .get("/api/v1/people?tag=elderly_alone")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let p = &people[0];
        assert_eq!(p["id_masked"], "1101**********002X");
        assert!(!people.to_string().contains("11010519491231002X"));
        let id = p["id"].as_i64().unwrap();
        let r = app
            .post(&format!("/api/v1/people/{id}/unmask"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "reason");
        let full: Value = app
            .post(&format!("/api/v1/people/{id}/unmask"))
            .body(r#"{"reason":"走访核实"}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(full["id_number"], "11010519491231002X");
        let log: Value = app
            .get("/api/v1/audit?limit=1")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(log[0]["action"], "person.view_unmasked");
        let v: Value = app
            .get("/api/v1/audit/verify")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["first_broken"].is_null(), "{v}");
        let r = app.get("/api/v1/people/999999").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app.get("/api/v1/people?tag=rich").send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "tag");

        // Point in grid, with the grid's posts.
        let hit: Value = app
            .get("/api/v1/locate?lon=118.785&lat=32.025")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(hit["grid"]["code"], "320104001001001");
        let r = app
            .get("/api/v1/locate?lon=abc&lat=32")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "lon");
        let gj: Value = app
            .get("/api/v1/grids.geojson")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(gj["features"][0]["properties"]["code"], "320104001001001");

        // Staff and posts (格内定岗): one grid, two people; errors name the field.
        let grid_id = hit["grid"]["id"].as_i64().unwrap();
        let r = app
            .post("/api/v1/staff")
            .body(format!(
                r#"{{"org_id":{grid_id},"name":"张网格","phone":"13700001111"}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let staff: Value = r.json().await.unwrap();
        let body = format!(
            r#"{{"grid_id":{grid_id},"staff_id":{},"title":"专职网格员"}}"#,
            staff["id"]
        );
        let r = app
            .post("/api/v1/posts")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app.post("/api/v1/posts").body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let r = app
            .post("/api/v1/staff")
            .body(format!(
                r#"{{"org_id":{grid_id},"name":"李","phone":"110"}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "phone");
        let r = app
            .post("/api/v1/staff")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let posts: Value = app
            .get(&format!("/api/v1/posts?grid_id={grid_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(posts[0]["staff_name"], "张网格");

        // Excel export.
        let r = app
            .get("/api/v1/export/registry.xlsx")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .contains("spreadsheetml")
        );
        let t = read_xlsx(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].1[10], "1101**********002X");
        let r = app.get("/api/v1/export/nothing.pdf").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);

        // The anonymous front page shows no registry counts or names.
        let html = app
            .http
            .get(format!("{}/", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("/login"), "{html}");
        assert!(!html.contains("alert(1)"), "{html}");
        assert!(!html.contains("人口"), "{html}");
        assert!(!html.contains("<script>alert"));
        let en = app
            .http
            .get(format!("{}/?lang=en", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(en.contains("community governance"));
        let r = app
            .http
            .get(format!("{}/nowhere", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn cases_api_and_open311() {
    each_backend(|store, be| async move {
        let key = {
            let r = store.import_grids(&linli_store::Scope::Everything, "t", GRIDS).await.unwrap();
            assert!(r.committed);
            store.create_api_key("12345热线", None).await.unwrap()
        };
        let app = App::spawn(store).await;
        let grid: Value = app.get("/api/v1/locate?lon=118.785&lat=32.025").send().await.unwrap().json().await.unwrap();
        let community_id = grid["grid"]["parent_id"].as_i64().unwrap();
        let unit: Value = app.post("/api/v1/units")
            .body(format!(r#"{{"org_id":{community_id},"name":"金陵物业","kind":"property"}}"#))
            .send().await.unwrap().json().await.unwrap();
        let cats: Value = app.get("/api/v1/categories").send().await.unwrap().json().await.unwrap();
        assert!(cats.as_array().unwrap().iter().any(|c| c["code"] == "1202"), "{be}");
        // An administrator edits the taxonomy: a bad file names the problem; a good one replaces it.
        let r = app.http.put(format!("{}/api/v1/categories", app.base)).bearer_auth(TOKEN)
            .body(r#"{"unit_kinds":{},"categories":[{"code":"1","name":"a","name_en":"a","parent":"9"}]}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("unknown parent"));
        let mut tax: Value = serde_json::from_str(linli_core::category::DEFAULT_CATEGORIES_JSON).unwrap();
        tax["categories"].as_array_mut().unwrap().push(serde_json::json!({"code":"9003","name":"加装电梯","name_en":"Lift retrofit","parent":"90","response_hours":8,"limit":{"working_days":10},"default_unit_kind":"community"}));
        let r = app.http.put(format!("{}/api/v1/categories", app.base)).bearer_auth(TOKEN).body(tax.to_string()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let cats: Value = app.get("/api/v1/categories").send().await.unwrap().json().await.unwrap();
        assert!(cats.as_array().unwrap().iter().any(|c| c["code"] == "9003" && c["limit"]["working_days"] == 10));

        // Intake, then the loop through the actions endpoint.
        let r = app.post("/api/v1/cases").body(r#"{"channel":"counter","category":"1202","description":"电梯困人","lon":118.785,"lat":32.025,"reporter_phone":"13800138000"}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let c: Value = r.json().await.unwrap();
        let id = c["id"].as_i64().unwrap();
        assert_eq!(c["reporter_phone_masked"], "138****8000");
        let act = |body: String| app.post(&format!("/api/v1/cases/{id}/actions")).body(body).send();
        let c: Value = act(format!(r#"{{"version":{},"action":"open"}}"#, c["version"])).await.unwrap().json().await.unwrap();
        let r = act(r#"{"version":1,"action":"accept"}"#.into()).await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT, "stale version");
        let r = act(format!(r#"{{"version":{},"action":"accept"}}"#, c["version"])).await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(r.text().await.unwrap().contains("已立案"), "illegal step names the state");
        let r = act(format!(r#"{{"version":{},"action":"dispatch"}}"#, c["version"])).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "missing unit");
        let c: Value = act(format!(r#"{{"version":{},"action":"dispatch","unit":{}}}"#, c["version"], unit["id"])).await.unwrap().json().await.unwrap();
        assert_eq!(c["unit_name"], "金陵物业");
        let c: Value = act(format!(r#"{{"version":{},"action":"accept"}}"#, c["version"])).await.unwrap().json().await.unwrap();
        let r = act(format!(r#"{{"version":{},"action":"report_back","text":"  "}}"#, c["version"])).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "text");
        // Photos: a non-image is refused by its bytes; an image is stored and served back.
        let r = app.post(&format!("/api/v1/cases/{id}/photos")).body("<svg onload=alert(1)>").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "photo");
        let jpeg: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        let up: Value = app.post(&format!("/api/v1/cases/{id}/photos")).body(jpeg.to_vec()).send().await.unwrap().json().await.unwrap();
        let url = up["url"].as_str().unwrap().to_string();
        let r = app.get(&url).send().await.unwrap();
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(&r.bytes().await.unwrap()[..], jpeg);
        let r = act(format!(r#"{{"version":{},"action":"report_back","text":"已解救并维修","photos":["a.jpg"]}}"#, c["version"])).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "photos");
        let c: Value = act(format!(r#"{{"version":{},"action":"report_back","text":"已解救并维修","photos":["{url}"]}}"#, c["version"])).await.unwrap().json().await.unwrap();
        assert_eq!(c["state"], "reported_back");
        let c: Value = act(format!(r#"{{"version":{},"action":"verify","passed":true}}"#, c["version"])).await.unwrap().json().await.unwrap();
        assert_eq!(c["state"], "closed");
        assert_eq!(c["allowed"], serde_json::json!(["rate", "reopen"]));
        let c: Value = act(format!(r#"{{"version":{},"action":"rate","rating":"satisfied"}}"#, c["version"])).await.unwrap().json().await.unwrap();
        assert_eq!(c["state"], "rated");
        let tl: Value = app.get(&format!("/api/v1/cases/{id}/timeline")).send().await.unwrap().json().await.unwrap();
        assert_eq!(tl.as_array().unwrap().len(), 8);
        let rates: Value = app.get("/api/v1/rates").send().await.unwrap().json().await.unwrap();
        assert_eq!(rates["total"]["satisfaction_rate"], 1.0);
        assert_eq!(rates["by_unit"][0]["unit_name"], "金陵物业");
        // The same by a named period (this Beijing year: whole months from the rollup).
        let year = (chrono::Utc::now() + chrono::Duration::hours(8)).format("%Y").to_string();
        let by_year: Value = app.get(&format!("/api/v1/rates?period={year}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(by_year["total"]["counts"], rates["total"]["counts"]);
        let r = app.get("/api/v1/rates?period=2026-13").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "period");
        let list: Value = app.get("/api/v1/cases?state=rated").send().await.unwrap().json().await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
        let r = app.get("/api/v1/cases?state=lost").send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "state");

        // 12345 batch: a bad row refuses the batch; the good batch registers once.
        let bad = "external_id,category,description,lon,lat\nT1,1101,夜间噪声,118.785,32.025\nT2,9999,x,118.785,32.025\n";
        let r = app.post("/api/v1/import/hotline?format=csv").body(bad).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["rows"][0]["row"], 3);
        assert_eq!(body["rows"][0]["field"], "category");
        let good = bad.replace("T2,9999", "T2,1401");
        let r: Value = app.post("/api/v1/import/hotline?format=csv").body(good.clone()).send().await.unwrap().json().await.unwrap();
        assert_eq!(r["created"]["cases"], 2);
        let r: Value = app.post("/api/v1/import/hotline?format=csv").body(good).send().await.unwrap().json().await.unwrap();
        assert_eq!(r["updated"]["already_received"], 2);
        // The integration's key works as a bearer token too.
        let r = app.http.get(format!("{}/api/v1/cases?channel=hotline_12345", app.base)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap().as_array().unwrap().len(), 2);

        // Open311 GeoReport v2.
        let o = |p: &str| app.http.get(format!("{}/open311/v2/{p}", app.base)).send();
        let d: Value = o("discovery.json").await.unwrap().json().await.unwrap();
        assert_eq!(d["endpoints"][0]["specification"], "http://wiki.open311.org/GeoReport_v2");
        let xml = o("services.xml").await.unwrap().text().await.unwrap();
        assert!(xml.starts_with("<?xml") && xml.contains("<service><service_code>0101</service_code>"), "{xml}");
        let def: Value = o("services/1202.json").await.unwrap().json().await.unwrap();
        assert_eq!(def["attributes"][0]["code"], "urgency");
        assert_eq!(o("services/12.json").await.unwrap().status(), StatusCode::NOT_FOUND);
        let post = |form: String| app.http.post(format!("{}/open311/v2/requests.json", app.base))
            .header("content-type", "application/x-www-form-urlencoded").body(form).send();
        let r = post("api_key=wrong&service_code=1202&lat=32.025&long=118.785&description=x".into()).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e[0]["code"], 403);
        let r = post(format!("api_key={key}&service_code=0601&lat=32.025&long=118.785&description=%E8%B7%AF%E7%81%AF%E4%B8%8D%E4%BA%AE&first_name=%E6%98%8E&last_name=%E6%9D%8E")).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let created: Value = r.json().await.unwrap();
        let sr = created[0]["service_request_id"].as_str().unwrap().to_string();
        let one: Value = o(&format!("requests/{sr}.json")).await.unwrap().json().await.unwrap();
        assert_eq!(one[0]["status"], "open");
        assert_eq!(one[0]["description"], "路灯不亮");
        assert_eq!(one[0]["service_code"], "0601");
        assert!(one[0]["requested_datetime"].as_str().unwrap().ends_with("+08:00"));
        let xml = o(&format!("requests/{sr}.xml")).await.unwrap().text().await.unwrap();
        assert!(xml.contains("<status>open</status>") && xml.contains("<service_requests><request>"), "{xml}");
        let open: Value = o("requests.json?status=open").await.unwrap().json().await.unwrap();
        assert!(open.as_array().unwrap().iter().all(|r| r["status"] == "open"));
        assert!(open.as_array().unwrap().iter().any(|r| r["service_request_id"] == sr.as_str()));
        let closed: Value = o("requests.json?status=closed").await.unwrap().json().await.unwrap();
        assert_eq!(closed.as_array().unwrap().len(), 1, "the rated lift case");
        assert_eq!(closed[0]["status_notes"], "已评价：已解救并维修");
        let r = o("requests.xml?start_date=yesterday").await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("<errors><error><code>400</code>"));
        let t: Value = o(&format!("tokens/{sr}.json")).await.unwrap().json().await.unwrap();
        assert_eq!(t[0]["service_request_id"], sr.as_str());
        assert_eq!(o("requests/GD0.json").await.unwrap().status(), StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_kept() {
    use axum::routing::post;
    use std::sync::Mutex;

    each_backend(|store, be| async move {
        // A receiver that fails the first time and records what it got.
        let got: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (g, c) = (got.clone(), calls.clone());
        let receiver = axum::Router::new().route(
            "/hook",
            post(move |headers: axum::http::HeaderMap, body: String| {
                let (g, c) = (g.clone(), c.clone());
                async move {
                    let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let h = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    g.lock()
                        .unwrap()
                        .push((h("x-linli-event"), h("x-linli-signature"), body));
                    if n == 0 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, receiver).await });

        let all = linli_store::Scope::Everything;
        store.import_grids(&all, "t", GRIDS).await.unwrap();
        let grid = store.org_by_code(&all, "320104001001001").await.unwrap();
        let unit = store
            .create_unit(
                &all,
                grid.parent_id.unwrap(),
                "城管中队",
                "urban_management",
                Some(&url),
            )
            .await
            .unwrap();
        let c = store
            .intake(
                &all,
                "x",
                &linli_store::cases::NewRequest {
                    channel: "grid_patrol".into(),
                    category: Some("0101".into()),
                    description: "路边暴露垃圾".into(),
                    lon: Some(118.785),
                    lat: Some(32.025),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let c = store
            .act(
                &all,
                "x",
                c.row.id,
                c.row.version,
                &linli_core::case::Action::Open,
            )
            .await
            .unwrap();
        store
            .act(
                &all,
                "x",
                c.row.id,
                c.row.version,
                &linli_core::case::Action::Dispatch { unit: unit.id },
            )
            .await
            .unwrap();
        assert_eq!(store.outbox_counts().await.unwrap(), (1, 0), "{be}");

        let client = reqwest::Client::new();
        let now = chrono::Utc::now().timestamp_millis();
        assert_eq!(
            linli_web::jobs::deliver_due(&store, &client, now)
                .await
                .unwrap(),
            (0, 1)
        );
        // Not due again until the back-off has passed.
        assert_eq!(
            linli_web::jobs::deliver_due(&store, &client, now + 1_000)
                .await
                .unwrap(),
            (0, 0)
        );
        assert_eq!(
            linli_web::jobs::deliver_due(&store, &client, now + 31_000)
                .await
                .unwrap(),
            (1, 0)
        );
        assert_eq!(store.outbox_counts().await.unwrap(), (0, 1));
        let got = got.lock().unwrap().clone();
        assert_eq!(got.len(), 2);
        let (event, signature, body) = &got[1];
        assert_eq!(event, "case.dispatched");
        let key = linli_store::Vault::new(linli_store::testkit::TEST_KEY);
        assert_eq!(signature, &key.sign_webhook(body.as_bytes()));
        assert!(body.contains(&c.row.code));
    })
    .await;
}

/// Sign-in with a session cookie: the account's scope applies, writes need
/// the CSRF token, failures lock the account, logout ends the session.
#[tokio::test]
async fn accounts_sessions_and_csrf() {
    each_backend(|store, be| async move {
        let r = store.import_grids(&linli_store::Scope::Everything, "t", GRIDS).await.unwrap();
        assert!(r.committed);
        // A grid of a second community.
        let other = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"320104001002001","name":"三网格"},
            "geometry":{"type":"Polygon","coordinates":[[[118.80,32.02],[118.81,32.02],[118.81,32.03],[118.80,32.03],[118.80,32.02]]]}}]}"#;
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", other).await.unwrap().committed);
        let app = App::spawn(store).await;
        let seen: Value = app.get("/api/v1/locate?lon=118.805&lat=32.025").send().await.unwrap().json().await.unwrap();
        assert_eq!(seen["grid"]["code"], "320104001002001", "{be}");
        // Only a whole-tree caller makes accounts; the field at fault is named.
        let r = app.post("/api/v1/accounts")
            .body(r#"{"username":"li.worker","role":"community_worker","password":"short","org_code":"320104001001"}"#)
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "password");
        let r = app.post("/api/v1/accounts")
            .body(r#"{"username":"li.worker","role":"community_worker","password":"夫子庙社区-2026-春","org_code":"320104001001"}"#)
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}");
        let account: Value = r.json().await.unwrap();
        assert_eq!(account["role"], "community_worker");

        let plain = reqwest::Client::new();
        let url = |p: &str| format!("{}{p}", app.base);
        // Wrong password: 401 without saying which part was wrong.
        let r = plain.post(url("/api/v1/login")).body(r#"{"username":"li.worker","password":"wrong-password-1"}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = plain.post(url("/api/v1/login")).body(r#"{"username":"nobody","password":"wrong-password-1"}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Signed in: an HttpOnly, SameSite=Strict cookie and a CSRF token.
        let r = plain.post(url("/api/v1/login")).body(r#"{"username":"li.worker","password":"夫子庙社区-2026-春"}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
        let cookie = set.split(';').next().unwrap().to_string();
        let login: Value = r.json().await.unwrap();
        let csrf = login["csrf_token"].as_str().unwrap().to_string();
        // The account sees its community only.
        let stats: Value = plain.get(url("/api/v1/stats")).header("cookie", &cookie).send().await.unwrap().json().await.unwrap();
        assert_eq!(stats["grids"], 1, "{be} {stats}");
        let r = plain.get(url("/api/v1/locate?lon=118.805&lat=32.025")).header("cookie", &cookie).send().await.unwrap();
        let outside: Value = r.json().await.unwrap();
        assert!(outside["grid"].is_null(), "{be} {outside}");
        // A write with the cookie but without the CSRF token is refused; with it, done.
        let body = r#"{"channel":"counter","description":"楼道灯坏了","lon":118.785,"lat":32.025}"#;
        let r = plain.post(url("/api/v1/cases")).header("cookie", &cookie).body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = plain.post(url("/api/v1/cases")).header("cookie", &cookie).header("x-csrf-token", "forged").body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = plain.post(url("/api/v1/cases")).header("cookie", &cookie).header("x-csrf-token", &csrf).body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}");
        let case: Value = r.json().await.unwrap();
        assert_eq!(case["channel"], "counter");
        // Not an administrator: no accounts, no audit log.
        let r = plain.post(url("/api/v1/accounts")).header("cookie", &cookie).header("x-csrf-token", &csrf)
            .body(r#"{"username":"x","role":"district_admin","password":"another-password-9"}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // Password change ends every session.
        let r = plain.post(url("/api/v1/password")).header("cookie", &cookie).header("x-csrf-token", &csrf)
            .body(r#"{"current_password":"wrong","new_password":"新的口令-2026-夏天"}"#).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "current_password");
        let r = plain.post(url("/api/v1/password")).header("cookie", &cookie).header("x-csrf-token", &csrf)
            .body(r#"{"current_password":"夫子庙社区-2026-春","new_password":"新的口令-2026-夏天"}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = plain.get(url("/api/v1/stats")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Logout ends a session.
        let r = plain.post(url("/api/v1/login")).body(r#"{"username":"li.worker","password":"新的口令-2026-夏天"}"#).send().await.unwrap();
        let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let csrf = r.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_string();
        let r = plain.post(url("/api/v1/logout")).header("cookie", &cookie).header("x-csrf-token", &csrf).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = plain.get(url("/api/v1/stats")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Five failures lock the account, even against the right password.
        for _ in 0..5 {
            let r = plain.post(url("/api/v1/login")).body(r#"{"username":"li.worker","password":"guess-guess-guess"}"#).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        let r = plain.post(url("/api/v1/login")).body(r#"{"username":"li.worker","password":"新的口令-2026-夏天"}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{be}");
    })
    .await;
}

/// Every path and method the OpenAPI document lists is served: the router
/// knows it (a handler's own 404 is JSON; the router's is empty).
#[tokio::test]
async fn every_documented_operation_is_served() {
    each_backend(|store, be| async move {
        let app = App::spawn(store).await;
        let doc: Value = app
            .get("/api/v1/openapi.json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() > 30, "{be}");
        for (path, ops) in paths {
            let concrete = path.replace("{id}", "999999").replace("{what}", "registry");
            for method in ops.as_object().unwrap().keys() {
                let url = format!("{}/api/v1{concrete}", app.base);
                let req = match method.as_str() {
                    "get" => app.http.get(&url),
                    "post" => app.http.post(&url).body("{}"),
                    "put" => app.http.put(&url).body("{}"),
                    other => panic!("unexpected method {other} for {path}"),
                };
                let r = req.bearer_auth(TOKEN).send().await.unwrap();
                let status = r.status();
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                if status == StatusCode::NOT_FOUND {
                    let body = r.text().await.unwrap();
                    assert!(body.contains("\"error\""), "{method} {path} is not routed");
                }
            }
        }
    })
    .await;
}

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

/// Every role × every operation of the OpenAPI document × an object in
/// and out of the role's scope: the role's permissions say 403, its
/// scope says 404, otherwise the operation succeeds.
#[tokio::test]
async fn authorisation_matrix() {
    use linli_core::access::{Role, allows, may_take};
    use linli_web::authz::Rule;
    let api = linli_web::api::api();
    let rule = |m: &reqwest::Method, p: &str| {
        api.operations()
            .iter()
            .find(|o| o.method == *m && o.path == p)
            .map(|o| o.rule)
    };
    let rule = &rule;
    each_backend(|store, be| async move {
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", GRIDS).await.unwrap().committed);
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", GRID_B).await.unwrap().committed);
        let app = App::spawn(store).await;
        let o = matrix_fixture(&app).await;
        let doc: Value = serde_json::from_str(&app.get("/api/v1/openapi.json").send().await.unwrap().text().await.unwrap()).unwrap();
        let mut documented: Vec<(String, String)> = doc["paths"].as_object().unwrap().iter()
            .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), p.clone())))
            .collect();
        // Sign-out and password change end the session: last.
        documented.sort_by_key(|(m, p)| (u8::from(p == "/password") + 2 * u8::from(p == "/logout"), m.clone(), p.clone()));
        let mut checked = 0;
        for role in Role::ALL {
            let who = sign_in(&app, &format!("m.{}", role.code()), MATRIX_PASSWORD).await;
            let everything = matches!(role, Role::DistrictAdmin | Role::Auditor);
            for (n, (method, path)) in documented.iter().enumerate() {
                let route = path.replace("{file}", "{what}");
                let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let permitted = match rule(&m, &route).unwrap_or_else(|| panic!("{method} {path} has no rule")) {
                    Rule::Public | Rule::SignedIn => true,
                    Rule::Needs(p) => allows(role, p),
                } && (path != "/cases/{id}/actions" || may_take(role, "supervise"));
                let (obj, ok, body): (Obj, u16, Vec<u8>) = match (method.as_str(), path.as_str()) {
                    ("get", "/org/{id}") | ("get", "/org/{id}/children") => (Obj::Community, 200, vec![]),
                    ("post", "/staff") => (Obj::Community, 200, vec![]),
                    ("get", "/people/{id}") => (Obj::Person, 200, vec![]),
                    ("post", "/people/{id}/unmask") => (Obj::Person, 200, r#"{"reason":"入户核实"}"#.into()),
                    ("get", "/photos/{id}") => (Obj::Photo, 200, vec![]),
                    ("post", "/cases/{id}/photos") => (Obj::Case, 200, JPEG.to_vec()),
                    ("post", "/cases/{id}/actions") => (Obj::Case, 200, vec![]),
                    (_, p) if p.starts_with("/cases/{id}") => (Obj::Case, 200, vec![]),
                    ("post", "/posts") => (Obj::None, 200, vec![]),
                    ("post", "/import/registry") => (Obj::None, 200, REGISTRY.into()),
                    ("post", "/import/compounds") => (Obj::None, 200, "小区,管理模式,物业公司,物业公司信用代码,经度,纬度,存在问题\n无主小区,无物业,,,118.785,32.025,\n".into()),
                    ("post", "/import/grids") => (Obj::None, 200, GRIDS.into()),
                    ("post", "/import/hotline") => (Obj::None, 200, format!("external_id,category,description,lon,lat\nM{n}{},1101,夜间噪声,118.785,32.025\n", role.code()).into()),
                    ("post", "/cases") => (Obj::None, 200, r#"{"channel":"counter","description":"井盖缺失","lon":118.785,"lat":32.025}"#.into()),
                    ("put", "/categories") => (Obj::None, 200, linli_core::category::DEFAULT_CATEGORIES_JSON.into()),
                    ("post", "/calendar") => (Obj::None, 200, include_str!("../../core/data/calendar_cn.json").into()),
                    ("post", "/units") => (Obj::None, 200, format!(r#"{{"org_id":{},"name":"单位{n}","kind":"property"}}"#, o.community[0]).into()),
                    ("post", "/dispatch-rules") => (Obj::None, 200, format!(r#"{{"category":"0601","org_id":{},"unit_id":{}}}"#, o.community[0], o.unit[0]).into()),
                    ("post", "/login") => (Obj::None, 200, serde_json::json!({"username": format!("m.{}", role.code()), "password": MATRIX_PASSWORD}).to_string().into()),
                    ("post", "/password") => (Obj::None, 422, r#"{"current_password":"not-the-password","new_password":"另一个口令-2026-秋"}"#.into()),
                    ("post", "/accounts") => (Obj::None, 200, serde_json::json!({"username": format!("new.{}", role.code()), "role": "grid_member", "org_code": "320104001001", "password": MATRIX_PASSWORD}).to_string().into()),
                    ("post", "/logout") => (Obj::None, 200, vec![]),
                    _ => (Obj::None, 200, vec![]),
                };
                let sides: &[usize] = if obj == Obj::None || everything { &[0] } else { &[0, 1] };
                for &side in sides {
                    let id = match obj {
                        Obj::None => 0,
                        Obj::Community => o.community[side],
                        Obj::Person => o.person[side],
                        Obj::Case => o.case[side],
                        Obj::Photo => o.photo[side],
                    };
                    let mut body = body.clone();
                    if path == "/cases/{id}/actions" {
                        let c = admin_json(&app, "get", &format!("/api/v1/cases/{id}"), String::new()).await;
                        body = format!(r#"{{"version":{},"action":"supervise","note":"请加快处理"}}"#, c["version"]).into();
                    }
                    if (method.as_str(), path.as_str()) == ("post", "/staff") {
                        body = format!(r#"{{"org_id":{id},"name":"张{n}","phone":"13700137000"}}"#).into();
                    }
                    if (method.as_str(), path.as_str()) == ("post", "/posts") {
                        let st = admin_json(&app, "post", "/api/v1/staff", format!(r#"{{"org_id":{},"name":"岗{n}{}"}}"#, o.grid[0], role.code())).await;
                        body = format!(r#"{{"grid_id":{},"staff_id":{},"title":"网格员"}}"#, o.grid[0], st["id"]).into();
                    }
                    let concrete = route.replace("{id}", &id.to_string()).replace("{what}", "registry.csv");
                    let concrete = match concrete.as_str() {
                        "/locate" => "/locate?lon=118.785&lat=32.025".to_string(),
                        "/import/hotline" | "/import/registry" | "/import/compounds" => format!("{concrete}?format=csv"),
                        _ => concrete,
                    };
                    let r = app.as_account(&who, method, &format!("/api/v1{concrete}")).body(body).send().await.unwrap();
                    let status = r.status().as_u16();
                    let want = match (permitted, side) {
                        (false, _) => 403,
                        (true, 0) => ok,
                        (true, _) => 404,
                    };
                    assert_eq!(status, want, "{be} {} {method} {concrete} (side {side}): {:?}", role.code(), r.text().await);
                    checked += 1;
                }
            }
        }
        assert!(checked > 500, "{checked}");
    })
    .await;
}

/// Guessing ids, filtering around the scope, searching by ID number or
/// phone: nothing of another community, another resident or another
/// unit comes back.
#[tokio::test]
async fn idor_probes_and_sql_injection() {
    each_backend(|store, be| async move {
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", GRIDS).await.unwrap().committed);
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", GRID_B).await.unwrap().committed);
        let app = App::spawn(store).await;
        let o = matrix_fixture(&app).await;
        let get = |who: &Signed, path: String| app.as_account(who, "get", &path).send();
        let ids = |v: &Value| -> Vec<i64> { v.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect() };

        // A resident: their own case only, whatever id they try.
        let resident = sign_in(&app, "m.resident", MATRIX_PASSWORD).await;
        let mine: Value = get(&resident, "/api/v1/cases".into()).await.unwrap().json().await.unwrap();
        assert_eq!(ids(&mine), vec![o.case[0]], "{be}");
        for id in 1..=o.stranger_case + 3 {
            let r = get(&resident, format!("/api/v1/cases/{id}")).await.unwrap();
            let want = if id == o.case[0] { 200 } else { 404 };
            assert_eq!(r.status().as_u16(), want, "{be} resident reads case {id}");
            let r = get(&resident, format!("/api/v1/cases/{id}/timeline")).await.unwrap();
            assert_eq!(r.status().as_u16(), want, "{be} resident reads timeline {id}");
        }
        assert_eq!(get(&resident, format!("/api/v1/photos/{}", o.photo[1])).await.unwrap().status(), 404);
        assert_eq!(get(&resident, format!("/api/v1/photos/{}", o.photo[0])).await.unwrap().status(), 200);
        let r = app.as_account(&resident, "post", &format!("/api/v1/cases/{}/actions", o.stranger_case))
            .body(r#"{"version":1,"action":"rate","rating":"unsatisfied"}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{be}");
        // Filters do not widen the scope.
        let v: Value = get(&resident, format!("/api/v1/cases?unit_id={}", o.unit[1])).await.unwrap().json().await.unwrap();
        assert!(ids(&v).is_empty(), "{be} {v}");

        // A unit's handler: the cases dispatched to the unit.
        let handler = sign_in(&app, "m.unit_handler", MATRIX_PASSWORD).await;
        let v: Value = get(&handler, "/api/v1/cases".into()).await.unwrap().json().await.unwrap();
        assert_eq!(ids(&v), vec![o.case[0]], "{be}");
        let v: Value = get(&handler, format!("/api/v1/cases?unit_id={}", o.unit[1])).await.unwrap().json().await.unwrap();
        assert!(ids(&v).is_empty(), "{be}");
        assert_eq!(get(&handler, format!("/api/v1/cases/{}", o.stranger_case)).await.unwrap().status(), 404);
        let rates: Value = get(&handler, "/api/v1/rates".into()).await.unwrap().json().await.unwrap();
        let units: Vec<&Value> = rates["by_unit"].as_array().unwrap().iter().map(|r| &r["unit_id"]).collect();
        assert_eq!(units, vec![&Value::from(o.unit[0])], "{be} {rates}");

        // A grid member of community A: nothing of community B by id,
        // list, search, map or export.
        let member = sign_in(&app, "m.grid_member", MATRIX_PASSWORD).await;
        assert_eq!(get(&member, format!("/api/v1/people/{}", o.person[1])).await.unwrap().status(), 404);
        assert_eq!(get(&member, format!("/api/v1/org/{}/children", o.community[1])).await.unwrap().status(), 404);
        let people: Value = get(&member, "/api/v1/people?limit=500".into()).await.unwrap().json().await.unwrap();
        assert!(!people.to_string().contains("赵六") && people.to_string().contains("王秀英"), "{be}");
        for q in ["name=赵六", "id_number=110105198001010016", "phone=13900139000"] {
            let v: Value = get(&member, format!("/api/v1/people?{q}")).await.unwrap().json().await.unwrap();
            assert_eq!(v.as_array().map(Vec::len).unwrap_or(0), 0, "{be} {q}: {v}");
        }
        let shapes = get(&member, "/api/v1/grids.geojson".into()).await.unwrap().text().await.unwrap();
        assert!(shapes.contains("320104001001001") && !shapes.contains("320104001002001"), "{be}");
        let cases: Value = get(&member, "/api/v1/cases?limit=500".into()).await.unwrap().json().await.unwrap();
        assert!(!ids(&cases).contains(&o.case[1]), "{be}");
        let stats: Value = get(&member, "/api/v1/stats".into()).await.unwrap().json().await.unwrap();
        assert_eq!(stats["people"], 1, "{be}");
        // The worker's export holds A's residents only; unmasked needs the right.
        let worker = sign_in(&app, "m.community_worker", MATRIX_PASSWORD).await;
        let csv = get(&worker, "/api/v1/export/registry.csv".into()).await.unwrap().text().await.unwrap();
        assert!(csv.contains("王秀英") && !csv.contains("赵六"), "{be}");
        // The case ledger export: the worker's community, the queue's filters.
        let ledger = get(&worker, "/api/v1/export/cases.csv".into()).await.unwrap().text().await.unwrap();
        assert!(ledger.contains("工单编号") && ledger.contains("楼道堆物") && ledger.contains("噪声扰民") && !ledger.contains("路灯不亮"), "{be} {ledger}");
        let ledger = get(&worker, "/api/v1/export/cases.csv?state=dispatched".into()).await.unwrap().text().await.unwrap();
        assert!(ledger.contains("楼道堆物") && !ledger.contains("噪声扰民"), "{be} {ledger}");
        let xlsx = get(&worker, "/api/v1/export/cases.xlsx".into()).await.unwrap().bytes().await.unwrap();
        let t = read_xlsx(&xlsx).unwrap();
        assert_eq!(t.rows.len(), 2, "{be}: the two cases of community A");
        let r = get(&resident, "/api/v1/export/cases.csv".into()).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{be}");
        let r = get(&worker, "/api/v1/export/registry.csv?unmasked=1&reason=x".into()).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{be}");

        // SQL injection strings in every text field and filter: stored and
        // answered as text, never run.
        let hostile = ["'; DROP TABLE service_case; --", "' OR '1'='1", "\" OR 1=1 --", "1); DELETE FROM account; --", "%' UNION SELECT password_hash FROM account --"];
        for h in hostile {
            let body = serde_json::json!({"channel":"counter","title":h,"description":h,"address":h,"reporter_name":h,"lon":118.785,"lat":32.025});
            let r = app.as_account(&worker, "post", "/api/v1/cases").body(body.to_string()).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{be} {h}");
            let c: Value = r.json().await.unwrap();
            assert_eq!((c["title"].as_str(), c["description"].as_str(), c["address"].as_str(), c["reporter_name"].as_str()), (Some(h), Some(h), Some(h), Some(h)));
            for q in ["category", "channel", "from", "grid_id", "state"] {
                let r = get(&worker, format!("/api/v1/cases?{q}={}", urlencode(h))).await.unwrap();
                assert!(matches!(r.status().as_u16(), 200 | 422), "{be} {q}={h}: {}", r.status());
                if r.status() == 200 {
                    let v: Value = r.json().await.unwrap();
                    assert!(ids(&v).is_empty(), "{be} {q}={h} matched {v}");
                }
            }
            let v: Value = get(&worker, format!("/api/v1/people?name={}", urlencode(h))).await.unwrap().json().await.unwrap();
            assert!(v.as_array().unwrap().is_empty(), "{be} name={h}");
            for q in ["id_number", "phone"] {
                let r = get(&worker, format!("/api/v1/people?{q}={}", urlencode(h))).await.unwrap();
                assert!(matches!(r.status().as_u16(), 200 | 422), "{be} {q}={h}");
            }
            let r = app.http.post(format!("{}/api/v1/login", app.base))
                .body(serde_json::json!({"username": h, "password": h}).to_string()).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{be} login {h}");
            let r = app.http.post(format!("{}/api/v1/login", app.base))
                .body(serde_json::json!({"username": format!("m.community_worker{h}"), "password": MATRIX_PASSWORD}).to_string()).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{be} login {h}");
        }
        let stats: Value = app.get("/api/v1/stats").send().await.unwrap().json().await.unwrap();
        assert_eq!(stats["people"], 2, "{be}");
        let all: Value = app.get("/api/v1/cases?limit=500").send().await.unwrap().json().await.unwrap();
        assert_eq!(ids(&all).len(), 3 + hostile.len(), "{be}");
        // Every account still signs in.
        sign_in(&app, "m.district_admin", MATRIX_PASSWORD).await;
        let v: Value = app.get("/api/v1/audit/verify").send().await.unwrap().json().await.unwrap();
        assert!(v["entries"].as_i64().unwrap() > 20 && v["first_broken"].is_null(), "{be} {v}");
    })
    .await;
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

/// Every page, as every role: the page's rule says 200 or 403; hostile
/// text typed by anyone (case, reporter, address, org names) comes back
/// escaped; every form write needs the session's CSRF token.
#[tokio::test]
async fn pages_by_role_escape_hostile_text_and_need_csrf() {
    use linli_core::access::{Role, allows};
    use linli_web::authz::Rule;
    let page_routes = &linli_web::ui::pages();
    each_backend(|store, be| async move {
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", GRIDS).await.unwrap().committed);
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", GRID_B).await.unwrap().committed);
        let app = App::spawn(store).await;
        let o = matrix_fixture(&app).await;
        // Hostile text in every field a person types, in community A.
        let body = serde_json::json!({"channel":"counter","title":HOSTILE,"description":HOSTILE,"address":HOSTILE,"reporter_name":HOSTILE,"lon":118.785,"lat":32.025});
        let hostile_case = admin_json(&app, "post", "/api/v1/cases", body.to_string()).await["id"].as_i64().unwrap();
        let resident = sign_in(&app, "m.resident", MATRIX_PASSWORD).await;
        let r = app.as_account(&resident, "post", &format!("/api/v1/cases/{}/actions", o.case[0])).body(format!(r#"{{"version":{},"action":"reopen","reason":"{}"}}"#, 99, HOSTILE.replace('"', "\\\""))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT, "{be}");
        let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let pages = ["/", "/login", "/signup", "/report", "/intake", "/my", "/cases", "/cases/{id}", "/grid", "/registry", "/people/{pid}", "/dashboard", "/audit", "/ui/grids.geojson"];
        let mut seen_hostile = 0;
        for role in Role::ALL {
            let who = sign_in(&app, &format!("m.{}", role.code()), MATRIX_PASSWORD).await;
            for page in pages {
                let case = if role == Role::Resident { o.case[0] } else { hostile_case };
                let path = page.replace("{id}", &case.to_string()).replace("{pid}", &o.person[0].to_string());
                let r = no_redirect.get(format!("{}{path}", app.base)).header("cookie", &who.cookie).send().await.unwrap();
                let status = r.status().as_u16();
                let path = page.replace("{pid}", "{id}");
                let rule = page_routes.operations().iter().find(|o| o.method == reqwest::Method::GET && o.path == path).map(|o| o.rule).unwrap_or_else(|| panic!("{page} has no rule"));
                let want = match rule {
                    Rule::Public if page == "/" => 303, // signed in: the role's first page
                    Rule::Public | Rule::SignedIn => 200,
                    Rule::Needs(p) if !allows(role, p) => 403,
                    _ if page == "/intake" && role == Role::Resident => 303, // a resident reports
                    _ if page == "/cases/{id}" && role == Role::UnitHandler => 404, // not the unit's case
                    _ => 200,
                };
                let text = r.text().await.unwrap();
                assert_eq!(status, want, "{be} {} GET {path}: {}", role.code(), &text[..text.len().min(300)]);
                assert!(!text.contains("<script>alert(1)") && !text.contains("<img src=x"), "{be} {} {path} echoes hostile text", role.code());
                if text.contains("&lt;script&gt;alert(1)") || text.contains("&#60;script&#62;alert(1)") {
                    seen_hostile += 1;
                }
            }
            // Form writes without the token: refused, nothing done.
            for (path, body) in [
                (format!("/cases/{}/act", o.case[0]), "version=1&action=supervise&note=x".to_string()),
                (format!("/people/{}/unmask", o.person[0]), "reason=x".to_string()),
                ("/logout".to_string(), String::new()),
            ] {
                let r = no_redirect.post(format!("{}{path}", app.base)).header("cookie", &who.cookie)
                    .header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
                assert!(matches!(r.status().as_u16(), 403 | 400), "{be} {} POST {path} without CSRF: {}", role.code(), r.status());
            }
            for path in ["/report", "/intake", "/registry/import"] {
                let form = reqwest::multipart::Form::new().text("description", "x").text("channel", "counter").text("lon", "118.785").text("lat", "32.025");
                let r = no_redirect.post(format!("{}{path}", app.base)).header("cookie", &who.cookie).multipart(form).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{be} {} POST {path} without CSRF", role.code());
            }
            // The session still works: the form posts above did nothing.
            let r = no_redirect.get(format!("{}/login", app.base)).header("cookie", &who.cookie).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
        assert!(seen_hostile >= 6, "{be}: hostile text was shown (escaped) on {seen_hostile} pages");
        // The secretary sees a person in full only with a reason, and the view is audited.
        let secretary = sign_in(&app, "m.community_secretary", MATRIX_PASSWORD).await;
        let page = no_redirect.get(format!("{}/people/{}", app.base, o.person[0])).header("cookie", &secretary.cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("1101**********002X") && !page.contains("11010519491231002X"), "{be}");
        let r = no_redirect.post(format!("{}/people/{}/unmask", app.base, o.person[0])).header("cookie", &secretary.cookie)
            .form(&[("_csrf", secretary.csrf.as_str()), ("reason", "")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}: a reason is required");
        let r = no_redirect.post(format!("{}/people/{}/unmask", app.base, o.person[0])).header("cookie", &secretary.cookie)
            .form(&[("_csrf", secretary.csrf.as_str()), ("reason", "入户走访核实")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}");
        assert!(r.text().await.unwrap().contains("11010519491231002X"), "{be}");
        let log: Value = app.get("/api/v1/audit?limit=1").send().await.unwrap().json().await.unwrap();
        assert_eq!(log[0]["action"], "person.view_unmasked", "{be}");
        assert_eq!(log[0]["actor"], "account:m.community_secretary", "{be}");
        // The auditor checks the chain from the page.
        let auditor = sign_in(&app, "m.auditor", MATRIX_PASSWORD).await;
        let page = no_redirect.get(format!("{}/audit?verify=1", app.base)).header("cookie", &auditor.cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("哈希链完整") && page.contains("person.view_unmasked"), "{be}");
        // A resident signs themself up: a resident account, signed in, sent to report.
        let r = no_redirect.post(format!("{}/signup", app.base))
            .form(&[("username", "zhang.san"), ("display_name", "张三"), ("password", "居民口令-2026-冬"), ("password_again", "居民口令-2026-秋")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}: passwords differ");
        let r = no_redirect.post(format!("{}/signup", app.base))
            .form(&[("username", "zhang.san"), ("display_name", "张三"), ("password", "short"), ("password_again", "short")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}: weak password");
        assert!(r.text().await.unwrap().contains("password"));
        let r = no_redirect.post(format!("{}/signup", app.base))
            .form(&[("username", "zhang.san"), ("display_name", "张三"), ("password", "居民口令-2026-冬"), ("password_again", "居民口令-2026-冬")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{be}");
        assert_eq!(r.headers()["location"], "/report");
        let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let me: Value = app.http.get(format!("{}/api/v1/me", app.base)).header("cookie", &cookie).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["account"]["role"], "resident", "{be} {me}");
        let r = no_redirect.post(format!("{}/signup", app.base))
            .form(&[("username", "zhang.san"), ("password", "居民口令-2026-冬"), ("password_again", "居民口令-2026-冬")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}: the name is taken");
        let all: Value = app.get("/api/v1/cases?limit=500").send().await.unwrap().json().await.unwrap();
        assert_eq!(all.as_array().unwrap().len(), 4, "{be}: no form without its token registered anything");

        // Sign-in: a wrong password re-shows the form (401); `next` stays on this site.
        let r = no_redirect.post(format!("{}/login", app.base)).form(&[("username", "m.community_worker"), ("password", "wrong-password-x")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.text().await.unwrap().contains("用户名或密码不对"));
        for next in ["//evil.example/x", "https://evil.example/", "/\\evil.example"] {
            let r = no_redirect.post(format!("{}/login", app.base)).form(&[("username", "m.community_worker"), ("password", MATRIX_PASSWORD), ("next", next)]).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            assert_eq!(r.headers()["location"], "/", "{be} next={next}");
        }
        // Signed out, a page sends you to sign in and back.
        let r = no_redirect.get(format!("{}/cases?state=opened", app.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/login?next=/cases%3Fstate%3Dopened");
        // The vendored assets are served from the binary, with their licences.
        for asset in ["/static/vendor/htmx/htmx.min.js", "/static/vendor/echarts/echarts.common.min.js", "/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/LICENSE", "/static/app.js"] {
            let r = app.http.get(format!("{}{asset}", app.base)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{asset}");
        }
    })
    .await;
}

/// Password spraying: one address failing with many user names is held
/// back (429), even for a right password, while the accounts stay unlocked.
#[tokio::test]
async fn sign_in_is_throttled_by_address() {
    each_backend(|store, be| async move {
        let app = App::spawn(store).await;
        admin_json(&app, "post", "/api/v1/accounts", serde_json::json!({"username": "li.admin", "role": "district_admin", "password": MATRIX_PASSWORD}).to_string()).await;
        let login = |u: String, p: &str| app.http.post(format!("{}/api/v1/login", app.base)).body(serde_json::json!({"username": u, "password": p}).to_string()).send();
        for i in 0..linli_web::throttle::FAILURES_PER_WINDOW {
            let r = login(format!("user{i}"), "wrong-password-1").await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{be} try {i}");
        }
        let r = login("li.admin".into(), MATRIX_PASSWORD).await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{be}");
        assert!(r.text().await.unwrap().contains("this address"));
        // The page's sign-in form goes through the same throttle.
        let r = app.http.post(format!("{}/login", app.base)).form(&[("username", "li.admin"), ("password", MATRIX_PASSWORD)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{be}");
    })
    .await;
}

/// Three servers on one database, each running the background jobs at
/// once (the lease bypassed, as when it runs out in a slow round) while
/// cases come in and are dispatched: every webhook is sent once, every
/// overdue case alerted once, the audit chain verifies and the rollup
/// equals the cases. Then the lease: one holder at a time.
#[tokio::test]
async fn several_servers_share_one_database() {
    use axum::routing::post;
    use linli_core::case::Action;
    use linli_store::Scope;
    use std::collections::HashMap;
    use std::sync::Mutex;

    linli_store::testkit::each_backend_shared(3, |stores, be| async move {
        let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let g = got.clone();
        let receiver = axum::Router::new().route(
            "/hook",
            post(move |headers: axum::http::HeaderMap| {
                let g = g.clone();
                async move {
                    let h = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    g.lock()
                        .unwrap()
                        .push((h("x-linli-delivery"), h("x-linli-event")));
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, receiver).await });

        let all = Scope::Everything;
        stores[0].import_grids(&all, "t", GRIDS).await.unwrap();
        let grid = stores[0]
            .org_by_code(&all, "320104001001001")
            .await
            .unwrap();
        let unit = stores[0]
            .create_unit(
                &all,
                grid.parent_id.unwrap(),
                "城管中队",
                "urban_management",
                Some(&url),
            )
            .await
            .unwrap();
        // The other servers learn of the new grids from the generation.
        for s in &stores[1..] {
            s.refresh_caches().await.unwrap();
        }

        const PER_SERVER: usize = 12;
        let long_ago = chrono::Utc::now() - chrono::Duration::days(60);
        let mut work = Vec::new();
        for (i, store) in stores.iter().enumerate() {
            let store = store.clone();
            let all = all.clone();
            work.push(tokio::spawn(async move {
                for n in 0..PER_SERVER {
                    let c = store
                        .intake_at(
                            &all,
                            "x",
                            &linli_store::cases::NewRequest {
                                channel: "grid_patrol".into(),
                                category: Some("0101".into()),
                                description: format!("路边暴露垃圾 {i}-{n}"),
                                lon: Some(118.785),
                                lat: Some(32.025),
                                ..Default::default()
                            },
                            long_ago,
                        )
                        .await
                        .unwrap();
                    // Opened long ago: past its deadline, so overdue.
                    let c = store
                        .act_at(&all, "x", c.row.id, c.row.version, &Action::Open, long_ago)
                        .await
                        .unwrap();
                    store
                        .act_at(
                            &all,
                            "x",
                            c.row.id,
                            c.row.version,
                            &Action::Dispatch { unit: unit.id },
                            long_ago,
                        )
                        .await
                        .unwrap();
                }
            }));
            let store = stores[i].clone();
            work.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                for _ in 0..8 {
                    linli_web::jobs::run_once(&store, &client).await;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }));
        }
        for w in work {
            w.await.unwrap();
        }
        // What was still pending, by all three at once.
        let client = reqwest::Client::new();
        tokio::join!(
            linli_web::jobs::run_once(&stores[0], &client),
            linli_web::jobs::run_once(&stores[1], &client),
            linli_web::jobs::run_once(&stores[2], &client),
        );

        let cases = 3 * PER_SERVER;
        // Each webhook sent once: one dispatch a case, and an overdue one
        // for each case that was dispatched when the scan found it late.
        let got = got.lock().unwrap().clone();
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for (id, _) in &got {
            *seen.entry(id.as_str()).or_default() += 1;
        }
        assert!(
            seen.values().all(|n| *n == 1),
            "{be}: a webhook was sent twice: {seen:?}"
        );
        let dispatched = got.iter().filter(|(_, e)| e == "case.dispatched").count();
        assert_eq!(dispatched, cases, "{be}");
        assert_eq!(
            stores[1].outbox_counts().await.unwrap(),
            (0, got.len() as i64),
            "{be}"
        );
        // One overdue alert a case.
        let alerts = stores[2].alerts(&all, 500).await.unwrap();
        let mut per_case: HashMap<i64, u32> = HashMap::new();
        for a in alerts.iter().filter(|a| a.2 == "overdue") {
            *per_case.entry(a.1).or_default() += 1;
        }
        assert_eq!(per_case.len(), cases, "{be}");
        assert!(per_case.values().all(|n| *n == 1), "{be}: {per_case:?}");
        // The chain holds every entry once.
        let v = stores[0].audit_verify().await.unwrap();
        assert!(v.first_broken.is_none(), "{be}: {:?}", v.first_broken);
        // The rollup equals the cases.
        let (from, to) = (
            (long_ago - chrono::Duration::days(400)).timestamp_millis(),
            (chrono::Utc::now() + chrono::Duration::days(1)).timestamp_millis(),
        );
        let (_, total) = stores[1].rates(&all, from, to).await.unwrap();
        assert_eq!(total.counts.requests, cases as i64, "{be}");
        assert_eq!(total.counts.opened, cases as i64, "{be}");

        // The lease: one holder at a time, taken over when it runs out or
        // is given up.
        let now = chrono::Utc::now().timestamp_millis();
        let mut holders = 0;
        for (i, s) in stores.iter().enumerate() {
            if s.try_lease("test_job", &format!("server-{i}"), now, 30_000)
                .await
                .unwrap()
            {
                holders += 1;
            }
        }
        assert_eq!(holders, 1, "{be}");
        assert!(
            stores[0]
                .try_lease("test_job", "server-0", now + 1_000, 30_000)
                .await
                .unwrap(),
            "{be}: renewed"
        );
        assert!(
            !stores[1]
                .try_lease("test_job", "server-1", now + 2_000, 30_000)
                .await
                .unwrap(),
            "{be}"
        );
        assert!(
            stores[1]
                .try_lease("test_job", "server-1", now + 40_000, 30_000)
                .await
                .unwrap(),
            "{be}: expired"
        );
        stores[1]
            .release_lease("test_job", "server-1")
            .await
            .unwrap();
        assert!(
            stores[2]
                .try_lease("test_job", "server-2", now + 41_000, 30_000)
                .await
                .unwrap(),
            "{be}: released"
        );
    })
    .await;
}

/// A change made on one server reaches the caches of another.
#[tokio::test]
async fn caches_follow_changes_made_on_another_server() {
    linli_store::testkit::each_backend_shared(2, |stores, be| async move {
        let all = linli_store::Scope::Everything;
        // Server 1 has looked (and cached an empty grid index).
        assert!(
            stores[1]
                .locate_grid(&all, 118.785, 32.025)
                .await
                .unwrap()
                .is_none(),
            "{be}"
        );
        stores[0].import_grids(&all, "t", GRIDS).await.unwrap();
        stores[1].refresh_caches().await.unwrap();
        let g = stores[1].locate_grid(&all, 118.785, 32.025).await.unwrap();
        assert_eq!(
            g.map(|g| g.code),
            Some("320104001001001".to_string()),
            "{be}"
        );
        // Categories edited on server 0 are seen by server 1.
        assert!(
            stores[1]
                .categories()
                .await
                .unwrap()
                .iter()
                .any(|c| c.code == "0101"),
            "{be}"
        );
        let mut t = linli_core::category::Taxonomy::default_set().unwrap();
        t.categories.retain(|c| c.code != "0101");
        stores[0].save_categories(&t).await.unwrap();
        stores[1].refresh_caches().await.unwrap();
        assert!(
            !stores[1]
                .categories()
                .await
                .unwrap()
                .iter()
                .any(|c| c.code == "0101"),
            "{be}"
        );
    })
    .await;
}
