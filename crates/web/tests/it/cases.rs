use super::*;
use linli_core::ids::CaseId;

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
        assert_eq!(c["allowed"], serde_json::json!(["rate", "return_visit", "reopen"]));
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
        assert_eq!(r["unchanged"]["already_received"], 2);
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
        // Staff notes and ratings are not published: the state only.
        assert_eq!(closed[0]["status_notes"], "已评价");
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
    each_backend(|store, be| async move {
        // A receiver that fails the first time and records what it got.
        let receiver = WebhookReceiver::start(1).await;
        let url = receiver.url.clone();

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
        let c = dispatch_new_case(&store, unit.id).await;
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
        let seen = receiver.deliveries();
        assert_eq!(seen.len(), 2);
        let d = &seen[1];
        assert_eq!(d.event, "case.dispatched");
        let key = linli_store::Vault::new(linli_store::testkit::TEST_KEY);
        assert_eq!(d.signature, key.sign_webhook(d.body.as_bytes()));
        assert!(d.body.contains(&c.row.code));

        // A host name is checked on every address it resolves to when it
        // is sent to: one that points at the metadata service is refused
        // (and says why), the same name pointing at the receiver is sent.
        let named = url.replace("127.0.0.1", "hooks.unit.example");
        let unit2 = store
            .create_unit(
                &all,
                grid.parent_id.unwrap(),
                "物业服务中心",
                "property",
                Some(&named),
            )
            .await
            .unwrap();
        dispatch_new_case(&store, unit2.id).await;
        let client = |ip: &str| {
            linli_web::jobs::webhook_client(linli_web::jobs::WebhookResolver {
                fixed: Some(vec![ip.parse().unwrap()]),
            })
            .unwrap()
        };
        let later = now + 3_600_000;
        assert_eq!(
            linli_web::jobs::deliver_due(&store, &client("169.254.169.254"), later)
                .await
                .unwrap(),
            (0, 1),
            "{be}"
        );
        let last_error = || async {
            let e: Option<String> = linli_store::with_db!(&store.db, p => {
                sqlx::query_scalar("SELECT last_error FROM outbox WHERE delivered_at IS NULL")
                    .fetch_one(p).await.unwrap()
            });
            e.unwrap_or_default()
        };
        let e = last_error().await;
        assert!(
            e.contains("hooks.unit.example resolves only to addresses a webhook may not reach"),
            "{e}"
        );
        assert_eq!(receiver.deliveries().len(), 2, "nothing was sent");
        assert_eq!(
            linli_web::jobs::deliver_due(&store, &client("127.0.0.1"), later + 3_600_000)
                .await
                .unwrap(),
            (1, 0),
            "{be}: the same name at an allowed address, with the URL's port"
        );
        assert_eq!(receiver.deliveries().len(), 3);

        // A redirect is not followed (it could lead to a literal address
        // the resolver never sees): the send counts as failed.
        let moved = url.replace("/hook", "/moved");
        let unit3 = store
            .create_unit(
                &all,
                grid.parent_id.unwrap(),
                "供水公司",
                "water",
                Some(&moved),
            )
            .await
            .unwrap();
        dispatch_new_case(&store, unit3.id).await;
        let plain = linli_web::jobs::webhook_client(Default::default()).unwrap();
        assert_eq!(
            linli_web::jobs::deliver_due(&store, &plain, later + 7_200_000)
                .await
                .unwrap(),
            (0, 1)
        );
        assert_eq!(last_error().await, "HTTP 307 Temporary Redirect");
    })
    .await;
}

/// Registers, opens and dispatches a new case to `unit`; the case as
/// dispatched.
async fn dispatch_new_case(store: &linli_store::Store, unit: i64) -> linli_store::cases::CaseView {
    let all = linli_store::Scope::Everything;
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
            CaseId(c.row.id),
            c.row.version,
            &linli_core::case::Action::Open,
        )
        .await
        .unwrap();
    store
        .act(
            &all,
            "x",
            CaseId(c.row.id),
            c.row.version,
            &linli_core::case::Action::Dispatch { unit },
        )
        .await
        .unwrap()
}

/// The GeoReport v2 points where linli once deviated, one check each:
/// placing by address, attributes, contacts, multipart, the answer's
/// shape, the list's dates, window and codes, and every error's shape.
#[tokio::test]
async fn open311_follows_the_specification() {
    each_backend(|store, be| async move {
        let all = linli_store::Scope::Everything;
        store.import_grids(&all, "t", GRIDS).await.unwrap();
        let key = store.create_api_key("街道App", None).await.unwrap();
        let app = App::spawn(store).await;
        let r = app.post("/api/v1/import/compounds?format=csv")
            .body("小区,管理模式,物业公司,物业公司信用代码,经度,纬度,存在问题\n金陵花园,无物业,,,118.786,32.026,\n")
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}: {}", r.text().await.unwrap());
        let compounds: Value = app.get("/api/v1/compounds").send().await.unwrap().json().await.unwrap();
        let compound_id = compounds[0]["id"].as_i64().unwrap();
        let post = |form: String| app.http.post(format!("{}/open311/v2/requests.json", app.base))
            .header("content-type", "application/x-www-form-urlencoded").body(form).send();
        let case_of = |created: &Value| linli_core::intake::id_from_code(created[0]["service_request_id"].as_str().unwrap()).unwrap();

        // address_string alone is placed at the compound it names; the
        // answer carries the id and no token.
        let r = post(format!("api_key={key}&service_code=0601&description=x&address_string={}", urlencode("金陵花园3栋门口路灯"))).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{be}");
        let created: Value = r.json().await.unwrap();
        assert!(created[0].get("token").is_none(), "{created}");
        let c: Value = app.get(&format!("/api/v1/cases/{}", case_of(&created))).send().await.unwrap().json().await.unwrap();
        assert_eq!(c["lon"], 118.786);
        assert_eq!(c["grid_name"], "一网格");
        assert_eq!(c["address"], "金陵花园3栋门口路灯");
        // An address that names nothing, with a key for the whole district: 400 naming the field.
        let r = post(format!("api_key={key}&service_code=0601&description=x&address_string={}", urlencode("不存在的小区"))).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e[0]["code"], 400);
        assert!(e[0]["description"].as_str().unwrap().starts_with("address_string"), "{e}");
        // address_id is a compound's number.
        let r = post(format!("api_key={key}&service_code=0601&description=x&address_id={compound_id}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = post(format!("api_key={key}&service_code=0601&description=x&address_id=999999")).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        // An unknown service is 404; attributes are checked against the definition and kept.
        let r = post(format!("api_key={key}&service_code=9999&lat=32.025&long=118.785&description=x")).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.json::<Value>().await.unwrap()[0]["code"], 404);
        for bad in ["attribute%5Bcolour%5D=red", "attribute%5Burgency%5D=very"] {
            let r = post(format!("api_key={key}&service_code=0601&lat=32.025&long=118.785&description=x&{bad}")).await.unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
        // A landline, an e-mail and a device id are kept (sealed), not refused.
        let r = post(format!(
            "api_key={key}&service_code=0601&lat=32.025&long=118.785&description=x&attribute%5Burgency%5D=urgent&media_url={}&phone=025-84561234&email=a%40b.cn&device_id=dev-7",
            urlencode("https://example.org/p.jpg")
        )).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = case_of(&r.json().await.unwrap());
        let t: Value = app.get(&format!("/api/v1/cases/{id}/timeline")).send().await.unwrap().json().await.unwrap();
        let data: Value = serde_json::from_str(t[0]["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["details"]["attribute.urgency"], "urgent", "{data}");
        assert_eq!(data["details"]["media_url"], "https://example.org/p.jpg");
        let o: Value = app.post(&format!("/api/v1/cases/{id}/unmask")).body(r#"{"reason":"回电核实"}"#).send().await.unwrap().json().await.unwrap();
        let contact = o["texts"].as_array().unwrap().iter().find(|t| t["field"] == "reporter_contact").unwrap();
        assert_eq!(contact["text"], "phone: 025-84561234; email: a@b.cn; device_id: dev-7");
        assert!(o["reporter_phone"].is_null());
        // multipart/form-data, with a photo as the file part `media`.
        let jpeg: Vec<u8> = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        let form = reqwest::multipart::Form::new()
            .text("api_key", key.clone()).text("service_code", "0601")
            .text("lat", "32.025").text("long", "118.785").text("description", "井盖缺失")
            .part("media", reqwest::multipart::Part::bytes(jpeg).file_name("p.jpg").mime_str("image/jpeg").unwrap());
        let r = app.http.post(format!("{}/open311/v2/requests.xml", app.base)).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let xml = r.text().await.unwrap();
        let code = xml.split("<service_request_id>").nth(1).unwrap().split('<').next().unwrap().to_string();
        let photos: Value = app.get(&format!("/api/v1/cases/{}/photos", linli_core::intake::id_from_code(&code).unwrap())).send().await.unwrap().json().await.unwrap();
        assert_eq!(photos.as_array().unwrap().len(), 1, "{be}");
        let form = reqwest::multipart::Form::new().text("api_key", key.clone()).text("service_code", "0601")
            .text("lat", "32.025").text("long", "118.785")
            .part("media", reqwest::multipart::Part::bytes(b"<svg>".to_vec()).file_name("p.svg"));
        let r = app.http.post(format!("{}/open311/v2/requests.json", app.base)).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.json::<Value>().await.unwrap()[0]["description"].as_str().unwrap().starts_with("media"));

        // GET: comma lists of codes, W3C dates, the 90-day rule.
        let o = |p: String| app.http.get(format!("{}/open311/v2/{p}", app.base)).send();
        let today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
        let start = today - chrono::Duration::days(1);
        for (q, n) in [
            (format!("service_code=0601,1202&start_date={start}"), 4),
            (format!("service_code=1202&start_date={start}"), 0),
            (format!("start_date={start}T00:00Z"), 4),
            (String::new(), 4),
        ] {
            let r = o(format!("requests.json?{q}")).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{q}");
            assert_eq!(r.json::<Value>().await.unwrap().as_array().unwrap().len(), n, "{be} {q}");
        }
        let r = o("requests.json?start_date=2026-01-01&end_date=2026-06-01".into()).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.json::<Value>().await.unwrap()[0]["description"].as_str().unwrap().contains("90 days"));

        // Errors from the framework in the spec's shape: 405, 413, in JSON and XML.
        let r = app.http.delete(format!("{}/open311/v2/requests.xml", app.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(r.text().await.unwrap().contains("<errors><error><code>405</code>"));
        let r = app.http.post(format!("{}/open311/v2/requests.json", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'a'; 12 * 1024 * 1024]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.json::<Value>().await.unwrap()[0]["code"], 413);

        // Discovery: an absolute URL and the real command for a key; keywords in Chinese.
        let d: Value = o("discovery.json".into()).await.unwrap().json().await.unwrap();
        assert_eq!(d["endpoints"][0]["url"], format!("{}/open311/v2", app.base));
        assert!(d["key_service"].as_str().unwrap().contains("linli apikey --name"));
        let services: Value = o("services.json".into()).await.unwrap().json().await.unwrap();
        let lamp = services.as_array().unwrap().iter().find(|s| s["service_code"] == "0601").unwrap();
        assert!(lamp["keywords"].as_str().unwrap().contains(lamp["service_name"].as_str().unwrap()), "{lamp}");
    })
    .await;
}
