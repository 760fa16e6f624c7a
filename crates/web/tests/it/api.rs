use super::*;

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
        // API answers are never cached (they hold personal data).
        let r = app.get("/api/v1/stats").send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store", "{be}");
        // A path id out of range is refused in JSON like every API error.
        let r = app
            .get("/api/v1/cases/9223372036854775808")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{be}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "bad_request",
            "{be}"
        );

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
        // A preview counts the file's ID numbers on record, so previews
        // are limited like look-ups: the allowance, then 429.
        for n in 0..=linli_web::throttle::LOOKUPS_PER_WINDOW {
            let r = app
                .post("/api/v1/import/registry?format=csv&dry_run=1")
                .body(REGISTRY)
                .send()
                .await
                .unwrap();
            if n < linli_web::throttle::LOOKUPS_PER_WINDOW {
                assert_eq!(r.status(), StatusCode::OK, "preview {n}");
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["unchanged"]["people"], 1, "{v}");
            } else {
                assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            }
        }

        // A district's own tag: unknown until an administrator lists it.
        let r = app.get("/api/v1/people?tag=低保户").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let r = app
            .http
            .put(format!("{}/api/v1/tags", app.base))
            .bearer_auth(TOKEN)
            .body(r#"["低保户"]"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["district"][0], "低保户");
        let r = app.get("/api/v1/people?tag=低保户").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.json::<Value>().await.unwrap().as_array().unwrap().len(),
            0
        );

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
        // Without a format the bytes decide (text here); a file without a
        // recognisable header names the columns it misses.
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v = r.json::<Value>().await.unwrap();
        assert!(
            v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == "compound"),
            "{v}"
        );

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
        assert_eq!(p["id_masked"], "110105************");
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
        assert_eq!(t.rows[0].1[10], "110105************");
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

/// The batch look-up over HTTP: points in, each point's grid out, in order.
#[tokio::test]
async fn points_are_located_in_a_batch() {
    each_backend(|store, be| async move {
        assert!(
            store
                .import_grids(&linli_store::Scope::Everything, "t", GRIDS)
                .await
                .unwrap()
                .committed
        );
        let app = App::spawn(store).await;
        let r: Value = app
            .post("/api/v1/locate/batch")
            .body(r#"{"points":[[118.785,32.025],[0,0],[118.781,32.021]]}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["located"], 2, "{be}: {r}");
        assert_eq!(r["grids"][0]["code"], "320104001001001");
        assert!(r["grids"][1].is_null());
        let r = app
            .post("/api/v1/locate/batch")
            .body(r#"{"points":[[118.785]]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{be}");
    })
    .await;
}
