use super::*;

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
        // Five failures hold the name back from this address, even against
        // the right password, with a Retry-After; a name that does not
        // exist is held back alike, so the answer tells no names apart.
        for name in ["li.worker", "no.such.user"] {
            for _ in 0..5 {
                let r = plain.post(url("/api/v1/login")).body(format!(r#"{{"username":"{name}","password":"guess-guess-guess"}}"#)).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{be} {name}");
            }
            let r = plain.post(url("/api/v1/login")).body(format!(r#"{{"username":"{name}","password":"新的口令-2026-夏天"}}"#)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{be} {name}");
            let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((800..=900).contains(&wait), "{be}: {wait}");
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
