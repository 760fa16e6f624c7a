//! Privacy and hardening at the HTTP boundary (issue 12): look-ups by ID
//! number or phone only for those who may unmask, audited and throttled;
//! Open311 publishes public fields only; redirects stay on the site; body
//! and field limits; slow clients are cut off.

use super::*;

#[tokio::test]
async fn lookups_by_id_number_or_phone_are_for_unmaskers_audited_and_throttled() {
    each_backend(|store, be| async move {
        assert!(
            store
                .import_grids(&linli_store::Scope::Everything, "t", GRIDS)
                .await
                .unwrap()
                .committed
        );
        assert!(
            store
                .import_grids(&linli_store::Scope::Everything, "t", GRID_B)
                .await
                .unwrap()
                .committed
        );
        let app = App::spawn(store).await;
        matrix_fixture(&app).await;
        // A resident's own report carries their account's name, not one they type.
        let resident = sign_in(&app, "m.resident", MATRIX_PASSWORD).await;
        let mine: Value = app
            .as_account(&resident, "post", "/api/v1/cases")
            .body(r#"{"channel":"counter","description":"楼道灯坏了","reporter_name":"冒名顶替","lon":118.785,"lat":32.025}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_ne!(mine["reporter_name"], "冒名顶替", "{be}: {mine}");
        assert!(mine["reporter_name"].as_str().is_some_and(|n| !n.is_empty()));
        // A community worker may read the registry but not confirm guesses.
        let worker = sign_in(&app, "m.community_worker", MATRIX_PASSWORD).await;
        let r = app
            .as_account(&worker, "get", "/api/v1/people?phone=13800138000")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{be}");
        let r = app
            .as_account(
                &worker,
                "get",
                "/api/v1/people?id_number=11010519491231002X",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{be}");
        // The secretary may: masked answers, each look-up in the audit log.
        let secretary = sign_in(&app, "m.community_secretary", MATRIX_PASSWORD).await;
        let r = app
            .as_account(&secretary, "get", "/api/v1/people?phone=13800138000")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}");
        let found: Value = r.json().await.unwrap();
        assert_eq!(found[0]["name"], "王秀英");
        assert_eq!(found[0]["id_masked"], "110105************");
        assert!(
            found[0].get("birth_date").is_none() && found[0].get("birth_year").is_none(),
            "{found}"
        );
        assert!(found[0]["age_band"].as_str().unwrap().starts_with('7'));
        let log: Value = app
            .get("/api/v1/audit?limit=20")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = log.as_array().unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e["actor"] == "account:m.community_secretary"
                    && e["action"] == "person.lookup_phone"
                    && e["detail"] == "138****8000 (1 found)"),
            "{be}: {log}"
        );
        // Walking the hidden digits is cut off after a handful.
        let mut refused = 0;
        for n in 0..40 {
            let r = app
                .as_account(
                    &secretary,
                    "get",
                    &format!("/api/v1/people?phone=138001380{n:02}"),
                )
                .send()
                .await
                .unwrap();
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                refused += 1;
            }
        }
        assert!(refused >= 20, "{be}: {refused} refused of 40");
        // Wrong current passwords at a password change are held back too.
        for _ in 0..5 {
            let r = app.as_account(&worker, "post", "/api/v1/password").body(r#"{"current_password":"guess-guess","new_password":"另一个口令-2026-冬天"}"#).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        }
        let r = app.as_account(&worker, "post", "/api/v1/password").body(format!(r#"{{"current_password":"{MATRIX_PASSWORD}","new_password":"另一个口令-2026-冬天"}}"#)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{be}");
        assert!(r.headers().contains_key("retry-after"));
    })
    .await;
}

#[tokio::test]
async fn open311_publishes_public_fields_only() {
    each_backend(|store, be| async move {
        let app = App::spawn(store.clone()).await;
        app.post("/api/v1/import/grids")
            .body(GRIDS)
            .send()
            .await
            .unwrap();
        let body = serde_json::json!({
            "channel": "counter",
            "description": "我电话13800138000，身份证11010519491231002X，3栋2单元301室门口漏水",
            "address": "桃叶渡小区3栋2单元301室",
            "lon": 118.78512345, "lat": 32.02567891,
            "reporter_name": "王秀英", "reporter_phone": "13800138000",
        });
        let c: Value = app
            .post("/api/v1/cases")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = c["id"].as_i64().unwrap();
        let c = admin_json(
            &app,
            "post",
            &format!("/api/v1/cases/{id}/actions"),
            format!(
                r#"{{"version":{},"action":"classify","category":"0601"}}"#,
                c["version"]
            ),
        )
        .await;
        let c = admin_json(
            &app,
            "post",
            &format!("/api/v1/cases/{id}/actions"),
            format!(r#"{{"version":{},"action":"open"}}"#, c["version"]),
        )
        .await;
        admin_json(
            &app,
            "post",
            &format!("/api/v1/cases/{id}/actions"),
            format!(
                r#"{{"version":{},"action":"supervise","note":"已电话联系住户王秀英"}}"#,
                c["version"]
            ),
        )
        .await;
        let list: Value = app
            .http
            .get(format!("{}/open311/v2/requests.json", app.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let text = list.to_string();
        let r = &list[0];
        for secret in [
            "13800138000",
            "11010519491231002X",
            "301室",
            "王秀英",
            "已电话联系",
            "118.78512345",
            "32.02567891",
        ] {
            assert!(!text.contains(secret), "{be}: {secret} published in {text}");
        }
        assert_eq!(r["lat"], 32.026, "{be}");
        assert_eq!(r["long"], 118.785);
        assert_eq!(r["address"], "一网格");
        // Every number of three digits or more is hidden in public text.
        assert!(
            r["description"]
                .as_str()
                .unwrap()
                .contains("电话***********"),
            "{be}: {r}"
        );
        // Staff who may unmask see the originals, with a reason, audited.
        let empty = app
            .post(&format!("/api/v1/cases/{id}/unmask"))
            .body(r#"{"reason":""}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        let full = admin_json(
            &app,
            "post",
            &format!("/api/v1/cases/{id}/unmask"),
            r#"{"reason":"回访核实"}"#.into(),
        )
        .await;
        assert_eq!(full["reporter_phone"], "13800138000", "{be}");
        let texts = full["texts"].as_array().unwrap();
        assert!(
            texts.iter().any(|t| t["field"] == "description"
                && t["text"].as_str().unwrap().contains("11010519491231002X")),
            "{full}"
        );
        let log: Value = app
            .get("/api/v1/audit?limit=5")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            log.as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "case.view_unmasked" && e["id"] == full["audit_id"]),
            "{log}"
        );
        // A HEAD on an export does not run it (nor audit an unmasked one).
        let head = app
            .http
            .head(format!(
                "{}/api/v1/export/registry.csv?unmasked=1&reason=x",
                app.base
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED, "{be}");
        // Listing can be turned off; one request by its id still answers.
        let mut state = AppState::new(store, TOKEN.into());
        state.open311_public_list = false;
        let closed = App::spawn_state(state).await;
        let o = |p: &str| {
            closed
                .http
                .get(format!("{}/open311/v2/{p}", closed.base))
                .send()
        };
        assert_eq!(
            o("requests.json").await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{be}"
        );
        let code = r["service_request_id"].as_str().unwrap();
        let one: Value = o(&format!("requests.json?service_request_id={code}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one[0]["service_request_id"], code);
    })
    .await;
}

#[tokio::test]
async fn redirects_stay_on_the_site() {
    each_backend(|store, be| async move {
        let app = App::spawn(store).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for back in [
            "/%09/evil.example",
            "//evil.example",
            "/%0A/x",
            "/%5C/evil.example",
            "https://evil.example",
        ] {
            let r = http
                .get(format!("{}/lang?to=en&back={back}", app.base))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_redirection(), "{be}: {back}: {}", r.status());
            assert_eq!(r.headers()["location"], "/", "{be}: {back}");
        }
        let r = http
            .get(format!(
                "{}/lang?to=en&back=/cases%3Fstate%3Dopened",
                app.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], "/cases?state=opened");
    })
    .await;
}

#[tokio::test]
async fn bodies_and_fields_are_bounded() {
    each_backend(|store, be| async move {
        let app = App::spawn(store).await;
        app.post("/api/v1/import/grids").body(GRIDS).send().await.unwrap();
        // The anonymous sign-in reads a few KB, not 64 MB.
        let big = format!(r#"{{"username":"a","password":"{}"}}"#, "x".repeat(100_000));
        let r = app.http.post(format!("{}/api/v1/login", app.base)).body(big).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{be}");
        // Fields of a request are bounded, by name.
        for (field, value) in [("address", "楼".repeat(301)), ("reporter_name", "王".repeat(101)), ("external_id", "x".repeat(65))] {
            let mut body = serde_json::json!({"channel": "counter", "description": "漏水", "lon": 118.785, "lat": 32.025});
            body[field] = value.into();
            let r = app.post("/api/v1/cases").body(body.to_string()).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}: {field}");
            let e: Value = r.json().await.unwrap();
            assert_eq!(e["field"], field, "{be}: {e}");
        }
        // A name filter longer than any name is refused by name, not a 500.
        let r = app.get(&format!("/api/v1/people?name={}", "张".repeat(60))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "name");
    })
    .await;
}

#[tokio::test]
async fn a_client_that_sends_headers_slowly_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let store = linli_store::Store::open(
        &format!(
            "sqlite://{}",
            std::env::temp_dir()
                .join(format!("slow_{}.db", std::process::id()))
                .display()
        ),
        linli_store::Vault::new([1; 32]),
    )
    .await
    .unwrap();
    let app = App::spawn(store).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server closes it once the header timeout passes.
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    tokio::time::timeout(
        linli_web::server::HEADER_TIMEOUT + std::time::Duration::from_secs(5),
        slow.read_to_end(&mut buf),
    )
    .await
    .expect("the server should have closed the connection")
    .ok();
    assert!(
        started.elapsed() >= linli_web::server::HEADER_TIMEOUT - std::time::Duration::from_secs(1)
    );
    // Meanwhile others are served.
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
