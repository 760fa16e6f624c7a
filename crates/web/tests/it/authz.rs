use super::*;

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
                } && (path != "/cases/{id}/actions" || may_take(role, linli_core::case::ActionKind::Supervise));
                let (obj, ok, body): (Obj, u16, Vec<u8>) = match (method.as_str(), path.as_str()) {
                    ("get", "/org/{id}") | ("get", "/org/{id}/children") => (Obj::Community, 200, vec![]),
                    ("post", "/staff") => (Obj::Community, 200, vec![]),
                    ("get", "/people/{id}") => (Obj::Person, 200, vec![]),
                    ("post", "/people/lookup") => (Obj::None, 200, r#"{"phone":"13800138000"}"#.into()),
                    ("put", "/people/{id}") => (Obj::Person, 200, r#"{"relation":"owner","tags":["党员"]}"#.into()),
                    ("post", "/people/{id}/unmask") => (Obj::Person, 200, r#"{"reason":"入户核实"}"#.into()),
                    ("get", "/photos/{id}") => (Obj::Photo, 200, vec![]),
                    ("post", "/cases/{id}/photos") => (Obj::Case, 200, JPEG.to_vec()),
                    ("post", "/cases/{id}/actions") => (Obj::Case, 200, vec![]),
                    ("post", "/cases/{id}/unmask") => (Obj::Case, 200, r#"{"reason":"回访核实"}"#.into()),
                    (_, p) if p.starts_with("/cases/{id}") => (Obj::Case, 200, vec![]),
                    ("post", "/posts") => (Obj::None, 200, vec![]),
                    ("post", "/locate/batch") => (Obj::None, 200, r#"{"points":[[118.785,32.025]]}"#.into()),
                    ("post", "/import/registry") => (Obj::None, 200, REGISTRY.into()),
                    ("post", "/import/compounds") => (Obj::None, 200, "小区,管理模式,物业公司,物业公司信用代码,经度,纬度,存在问题\n无主小区,无物业,,,118.785,32.025,\n".into()),
                    ("post", "/import/grids") => (Obj::None, 200, GRIDS.into()),
                    ("post", "/import/hotline") => (Obj::None, 200, format!("external_id,category,description,lon,lat\nM{n}{},1101,夜间噪声,118.785,32.025\n", role.code()).into()),
                    ("post", "/cases") => (Obj::None, 200, r#"{"channel":"counter","description":"井盖缺失","lon":118.785,"lat":32.025}"#.into()),
                    ("put", "/tags") => (Obj::None, 200, r#"["低保户","空巢老人"]"#.into()),
                    ("put", "/notify-gateway") => (Obj::None, 200, r#"{"url":"https://sms.example/hook"}"#.into()),
                    ("put", "/hotline-categories") => (Obj::None, 200, r#"{"乱堆乱放":"1401"}"#.into()),
                    ("put", "/categories") => (Obj::None, 200, linli_core::category::DEFAULT_CATEGORIES_JSON.into()),
                    ("post", "/calendar") => (Obj::None, 200, include_str!("../../../core/data/calendar_cn.json").into()),
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
        // A file of more ID numbers than an account may check by import in
        // a day (a bulk look-up by guesses) is refused before it is read
        // against the registry, preview or not.
        let mut guesses = String::from("网格编码,小区,楼栋,单元,房号,姓名,身份证号\n");
        for i in 0..=linli_web::throttle::ID_NUMBERS_PER_DAY {
            guesses.push_str(&format!("320104001001001,桃叶渡小区,1栋,1单元,101,王秀英,110105{i:012}\n"));
        }
        for q in ["dry_run=1", "dry_run=0"] {
            let r = app.as_account(&worker, "post", &format!("/api/v1/import/registry?format=csv&{q}"))
                .body(guesses.clone()).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{be} {q}");
            assert!(r.text().await.unwrap().contains("身份证号"), "{be}");
        }
        let csv = get(&worker, "/api/v1/export/registry.csv".into()).await.unwrap().text().await.unwrap();
        assert!(csv.contains("王秀英") && !csv.contains("赵六"), "{be}");
        // The registry page's filters hold for its export.
        let only = |q: &str| get(&worker, format!("/api/v1/export/registry.csv?{q}"));
        let tagged = only("tag=elderly_alone").await.unwrap().text().await.unwrap();
        assert!(tagged.contains("王秀英"), "{be}: {tagged}");
        let none = only("tag=volunteer").await.unwrap().text().await.unwrap();
        assert!(!none.contains("王秀英") && none.lines().count() == 1, "{be}: the header alone {none}");
        let named = only(&format!("name={}", "%E7%A7%80%E8%8B%B1")).await.unwrap().text().await.unwrap();
        assert!(named.contains("王秀英"), "{be}");
        let r = only(&format!("grid_id={}", o.grid[1])).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{be}: another community's grid");
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
            // (The reporter's name comes back masked: its first character and **.)
            let masked = linli_core::mask::name(h);
            assert_eq!((c["title"].as_str(), c["description"].as_str(), c["address"].as_str(), c["reporter_name"].as_str()), (Some(h), Some(h), Some(h), Some(masked.as_str())));
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
            // A community worker may not look people up by ID number or phone at all.
            for q in ["id_number", "phone"] {
                let r = get(&worker, format!("/api/v1/people?{q}={}", urlencode(h))).await.unwrap();
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{be} {q}={h}");
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
