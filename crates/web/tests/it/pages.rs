use super::*;

fn urlencoding(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

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
                (format!("/cases/{}/unmask", o.case[0]), "reason=x".to_string()),
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
        assert!(page.contains("110105************") && !page.contains("11010519491231002X"), "{be}");
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
        // The case page, too: the text as written only with a reason, audited.
        let page = no_redirect.get(format!("{}/cases/{}", app.base, o.case[0])).header("cookie", &secretary.cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&format!("action=\"/cases/{}/unmask\"", o.case[0])), "{be}: no unmask form");
        let r = no_redirect.post(format!("{}/cases/{}/unmask", app.base, o.case[0])).header("cookie", &secretary.cookie)
            .form(&[("_csrf", secretary.csrf.as_str()), ("reason", "回访核实")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}");
        assert!(r.text().await.unwrap().contains("id=\"originals\""), "{be}");
        let log: Value = app.get("/api/v1/audit?limit=1").send().await.unwrap().json().await.unwrap();
        assert_eq!(log[0]["action"], "case.view_unmasked", "{be}");
        let worker = sign_in(&app, "m.community_worker", MATRIX_PASSWORD).await;
        let page = no_redirect.get(format!("{}/cases/{}", app.base, o.case[0])).header("cookie", &worker.cookie).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("/unmask\""), "{be}: a worker may not unmask");
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

/// Lists page by key on the pages and in the API (issue 13): the next-page
/// link carries the last id, the pages follow on without repeating or
/// skipping a row, and an offset past 10,000 is refused by name.
#[tokio::test]
async fn lists_page_by_key() {
    each_backend(|store, be| async move {
        store.load_synth(1_500, 3, &|_, _| {}).await.unwrap();
        store
            .load_synth_cases(400, 3, chrono::Utc::now(), None, &|_, _| {})
            .await
            .unwrap();
        store
            .create_account(
                "test",
                &linli_store::accounts::NewAccount {
                    username: "keyset.admin".into(),
                    display_name: String::new(),
                    role: "district_admin".into(),
                    password: MATRIX_PASSWORD.into(),
                    org_code: None,
                    unit_id: None,
                },
            )
            .await
            .unwrap();
        let (token, _) = store
            .login(
                "keyset.admin",
                MATRIX_PASSWORD,
                chrono::Utc::now().timestamp_millis(),
            )
            .await
            .unwrap();
        let cookie = format!("{}={token}", linli_web::SESSION_COOKIE);
        let counting = store.clone();
        let app = App::spawn(store).await;
        let page = |path: String| {
            let (http, base, cookie) = (app.http.clone(), app.base.clone(), cookie.clone());
            async move {
                let r = http
                    .get(format!("{base}{path}"))
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK, "{path}");
                r.text().await.unwrap()
            }
        };
        let next_of = |html: &str| -> Option<String> {
            let at = html.find("id=\"next-page\"")?;
            let start = html[..at].rfind("href=\"")? + 6;
            let end = start + html[start..].find('"')?;
            Some(html[start..end].replace("&amp;", "&").replace("&#38;", "&"))
        };
        let case_codes = |html: &str| -> Vec<String> {
            html.match_indices("GD20")
                .map(|(i, _)| html[i..i + 17].to_string())
                .collect()
        };
        // Cases: three numbered pages of 50, none repeated, under the
        // total; the API agrees.
        let rated = counting
            .count_cases(
                &linli_store::Scope::Everything,
                &linli_store::cases::CaseFilter {
                    state: Some(linli_core::case::State::Rated),
                    ..Default::default()
                },
                100_000,
            )
            .await
            .unwrap()
            .0;
        assert!(rated > 150, "{be}: {rated}");
        let mut seen: Vec<String> = Vec::new();
        let mut url = "/cases?state=rated".to_string();
        for n in 0..3 {
            let html = page(url.clone()).await;
            let mut codes = case_codes(&html);
            codes.dedup();
            assert!(
                codes.len() >= 50,
                "{be}: page {n} lists 50 cases ({})",
                codes.len()
            );
            assert!(
                codes.iter().all(|c| !seen.contains(c)),
                "{be}: page {n} repeats a case: {url} {codes:?} {seen:?}"
            );
            seen.extend(codes);
            assert!(
                html.contains(&format!("共 {rated} 件")),
                "{be}: page {n} shows the total {rated}"
            );
            assert!(
                html.contains(&format!("<strong aria-current=\"page\">{}</strong>", n + 1)),
                "{be}: page {n} is marked as the current one"
            );
            if n > 0 {
                assert!(
                    html.contains("rel=\"prev\""),
                    "{be}: a later page links back"
                );
            }
            url = next_of(&html).unwrap_or_else(|| panic!("{be}: page {n} has a next page"));
            assert!(
                url.contains(&format!("page={}", n + 2)) && url.contains("state=rated"),
                "{be}: {url}"
            );
        }
        // By deadline: open cases only, least time left first, as the API
        // lists them.
        let html = page("/cases?sort=due".into()).await;
        let due_codes = {
            let mut c = case_codes(&html);
            c.dedup();
            c
        };
        let api: Value = app
            .get("/api/v1/cases?sort=due&limit=50")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let api_codes: Vec<String> = api
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].as_str().unwrap().to_string())
            .collect();
        assert!(!api_codes.is_empty(), "{be}");
        assert_eq!(due_codes, api_codes, "{be}");
        let dues: Vec<i64> = api
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["due_at"].as_i64())
            .collect();
        assert!(dues.windows(2).all(|w| w[0] <= w[1]), "{be}: {dues:?}");
        assert!(
            api.as_array().unwrap().iter().all(|c| !matches!(
                c["state"].as_str(),
                Some("closed" | "rated" | "refused" | "merged")
            )),
            "{be}"
        );
        let r = app.get("/api/v1/cases?sort=oldest").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        let mut api_ids: Vec<i64> = Vec::new();
        let mut before = String::new();
        while api_ids.len() < 150 {
            let list: Value = app
                .get(&format!("/api/v1/cases?state=rated&limit=50{before}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let ids: Vec<i64> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_i64().unwrap())
                .collect();
            assert_eq!(ids.len(), 50, "{be}");
            before = format!("&before={}", ids.last().unwrap());
            api_ids.extend(ids);
        }
        let from_api: Vec<String> = api_ids.iter().map(|id| format!("{id:07}")).collect();
        assert!(
            seen.iter()
                .zip(&from_api)
                .all(|(code, id)| code.ends_with(id)),
            "{be}: the pages and the API list the same cases in the same order"
        );
        // People: the second page starts at row 51, after the first's last.
        let html = page("/registry".into()).await;
        let next = next_of(&html).unwrap();
        assert!(
            next.contains("after=") && next.contains("row=51"),
            "{be}: {next}"
        );
        // Deep offsets are refused by name (page by key instead).
        let r = app.get("/api/v1/cases?offset=10001").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "offset", "{be}");
        let r = app.get("/api/v1/people?offset=10001").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
    })
    .await;
}

/// A ledger as a community keeps it (a title row, synonyms, a column linli
/// does not keep, no grid column): previewed first with nothing written,
/// then confirmed by its uploader only, exactly once.
#[tokio::test]
async fn a_ledger_is_previewed_then_confirmed() {
    each_backend(|store, be| async move {
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", GRIDS).await.unwrap().committed);
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", GRID_B).await.unwrap().committed);
        let app = App::spawn(store).await;
        matrix_fixture(&app).await;
        let secretary = sign_in(&app, "m.community_secretary", MATRIX_PASSWORD).await;
        let ledger = "夫子庙社区人口信息台账\n姓名,性别,民族,联系电话,小区,楼栋,单元,房号\n王 小明,男性,汉,１３９１２３４５６７８,新苑小区,2号楼,1,1101室\n合计：1人,,,,,,,\n";
        let upload = |who: &Signed| {
            reqwest::multipart::Form::new()
                .text("_csrf", who.csrf.clone())
                .text("grid", "320104001001001")
                .part("file", reqwest::multipart::Part::bytes(ledger.as_bytes().to_vec()).file_name("台账.csv"))
        };
        let people = |app: &App| {
            let url = format!("{}/api/v1/people?name=小明", app.base);
            let http = app.http.clone();
            async move { http.get(url).bearer_auth(TOKEN).send().await.unwrap().json::<Value>().await.unwrap().as_array().unwrap().len() }
        };
        let r = app.http.post(format!("{}/registry/import", app.base)).header("cookie", &secretary.cookie).multipart(upload(&secretary)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}");
        let page = r.text().await.unwrap();
        assert!(page.contains("导入预览") && page.contains("1 人"), "{be}: {page}");
        assert!(page.contains("民族") && page.contains("合计：1人"), "{be}: the unused column and the skipped row are named");
        assert!(page.contains("1101室") && page.contains("王 小明"), "{be}: the values changed are shown");
        assert_eq!(people(&app).await, 0, "{be}: a preview writes nothing");
        let token = page.split("name=\"token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();

        // Another account cannot confirm it.
        let other = sign_in(&app, "m.district_admin", MATRIX_PASSWORD).await;
        let r = app.http.post(format!("{}/registry/import-confirm", app.base)).header("cookie", &other.cookie)
            .form(&[("_csrf", other.csrf.as_str()), ("token", token.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        assert_eq!(people(&app).await, 0, "{be}");

        // Its uploader confirms: the same file goes in, once.
        let confirm = || app.http.post(format!("{}/registry/import-confirm", app.base)).header("cookie", &secretary.cookie)
            .form(&[("_csrf", secretary.csrf.as_str()), ("token", token.as_str())]);
        let r = confirm().send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}");
        assert!(r.text().await.unwrap().contains("导入成功"), "{be}");
        assert_eq!(people(&app).await, 1, "{be}");
        let r = confirm().send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}: a preview is imported once");

        // The same ledger with a new phone: the preview shows the person's
        // stored and new value, masked.
        let edited = ledger.replace("１３９１２３４５６７８", "13700001111");
        let form = reqwest::multipart::Form::new().text("_csrf", secretary.csrf.clone()).text("grid", "320104001001001")
            .part("file", reqwest::multipart::Part::bytes(edited.into_bytes()).file_name("台账.csv"));
        let page = app.http.post(format!("{}/registry/import", app.base)).header("cookie", &secretary.cookie).multipart(form).send().await.unwrap().text().await.unwrap();
        let updates = page.split("id=\"import-updates\"").nth(1).unwrap_or_else(|| panic!("{be}: {page}"));
        assert!(updates.contains("王小明") && updates.contains("139****5678") && updates.contains("137****1111"), "{be}: {updates}");
        assert!(!page.contains("13700001111"), "{be}: values are masked");

        // A column the dictionary does not know: mapped by hand on the
        // preview, saved as a template, and the template used next time.
        let odd = "姓名,联络人手机,小区,楼栋,房号\n李四,13600136000,新苑小区,3栋,301\n";
        let form = reqwest::multipart::Form::new().text("_csrf", secretary.csrf.clone()).text("grid", "320104001001001")
            .part("file", reqwest::multipart::Part::bytes(odd.as_bytes().to_vec()).file_name("odd.csv"));
        let page = app.http.post(format!("{}/registry/import", app.base)).header("cookie", &secretary.cookie).multipart(form).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"import-remap\""), "{be}: {page}");
        let token = page.split("name=\"token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let r = app.http.post(format!("{}/registry/import-remap", app.base)).header("cookie", &secretary.cookie)
            .form(&[("_csrf", secretary.csrf.as_str()), ("token", token.as_str()), ("map:姓名", "name"), ("map:联络人手机", "phone"),
                    ("map:小区", "compound"), ("map:楼栋", "building"), ("map:房号", "room"), ("template_name", "联络人台账")])
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}");
        let page = r.text().await.unwrap();
        assert!(page.contains("所选列对应：“联络人手机”列导入为“手机号”"), "{be}: {page}");
        assert!(page.contains("导入预览") && page.contains("id=\"import-confirm\""), "{be}");
        let form = reqwest::multipart::Form::new().text("_csrf", secretary.csrf.clone()).text("grid", "320104001001001").text("template", "联络人台账")
            .part("file", reqwest::multipart::Part::bytes(odd.as_bytes().to_vec()).file_name("odd.csv"));
        let page = app.http.post(format!("{}/registry/import", app.base)).header("cookie", &secretary.cookie).multipart(form).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("所选列对应：“联络人手机”列导入为“手机号”") && page.contains("<option value=\"联络人台账\">"), "{be}: {page}");

        // A file with problems: every one named in Chinese, no confirmation offered.
        let bad = "姓名,身份证号码,小区,楼栋,房号\n张三,11010519491231002,新苑小区,1栋,101\n";
        let form = reqwest::multipart::Form::new().text("_csrf", secretary.csrf.clone()).text("grid", "320104001001001")
            .part("file", reqwest::multipart::Part::bytes(bad.as_bytes().to_vec()).file_name("bad.csv"));
        let page = app.http.post(format!("{}/registry/import", app.base)).header("cookie", &secretary.cookie).multipart(form).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("身份证号应为 18 位，实为 17 位") && !page.contains("import-confirm"), "{be}: {page}");
    })
    .await;
}

/// A refused form comes back as the same page (issue 15): every value
/// kept (the map point too), the message beside its field in the page's
/// language, no English developer text on a Chinese page; an error page
/// keeps the viewer's menu and links back to where they came from; the
/// API says the same in both languages.
#[tokio::test]
async fn refused_forms_come_back_in_place_in_the_page_language() {
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
        let worker = sign_in(&app, "m.community_worker", MATRIX_PASSWORD).await;
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let intake = |fields: Vec<(&'static str, String)>, lang: &'static str| {
            let mut form = reqwest::multipart::Form::new().text("_csrf", worker.csrf.clone());
            for (k, v) in fields {
                form = form.text(k, v);
            }
            no_redirect
                .post(format!("{}/intake", app.base))
                .header("cookie", format!("{}; linli_lang={lang}", worker.cookie))
                .multipart(form)
                .send()
        };
        let long = "长".repeat(4100);
        let base = |description: &str| {
            vec![
                ("channel", "grid_patrol".to_string()),
                ("title", "路灯<不亮>".to_string()),
                ("description", description.to_string()),
                ("reporter_name", "李四".to_string()),
                ("lon", "118.785".to_string()),
                ("lat", "32.025".to_string()),
            ]
        };
        // Too long a description: not cut, refused beside the field, all kept.
        let r = intake(base(&long), "zh").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("id=\"report-form\"") && page.contains("id=\"err-description\""),
            "{be}: not in place"
        );
        assert!(
            page.contains("问题描述：不能超过4000个字（现有4100个字）"),
            "{be}"
        );
        assert!(page.contains(&long), "{be}: the description is kept whole");
        assert!(
            page.contains("value=\"118.785\"") && page.contains("value=\"32.025\""),
            "{be}: the point is kept"
        );
        assert!(
            page.contains("value=\"路灯&#60;不亮&#62;\"")
                || page.contains("value=\"路灯&lt;不亮&gt;\""),
            "{be}: the title is kept, escaped"
        );
        assert!(
            page.contains("value=\"grid_patrol\" selected"),
            "{be}: the channel is kept"
        );
        assert!(
            !page.contains("is longer") && !page.contains("javascript:"),
            "{be}: English developer text on a Chinese page"
        );
        // The same mistake on the English page says it in English.
        let page = intake(base(&long), "en")
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("description: is longer than 4000 characters (4100)"),
            "{be}"
        );
        // A phone that is not one, and no place at all: each said in Chinese where it belongs.
        let mut f = base("路灯不亮");
        f.push(("reporter_phone", "abc123".into()));
        let page = intake(f, "zh").await.unwrap().text().await.unwrap();
        assert!(
            page.contains("id=\"err-reporter_phone\">联系电话：手机号“abc123”不是 11 位手机号码"),
            "{be}"
        );
        assert!(page.contains("value=\"abc123\""), "{be}");
        let f: Vec<_> = base("路灯不亮")
            .into_iter()
            .filter(|(k, _)| *k != "lon" && *k != "lat")
            .collect();
        let r = intake(f, "zh").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = r.text().await.unwrap();
        assert!(
            page.contains("id=\"err-place\">") && page.contains("请在地图上标出位置"),
            "{be}"
        );
        // Nothing was registered by the refused forms; a good one goes to its case (post/redirect/get).
        let all: Value = app
            .get("/api/v1/cases?limit=500")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let before = all.as_array().unwrap().len();
        // The worker's to-do count (header and page) follows the new request.
        let waiting = || async {
            let t: Value = app
                .as_account(&worker, "get", "/api/v1/todo")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            t.as_array()
                .unwrap()
                .iter()
                .find(|x| x["todo"] == "to_classify")
                .unwrap()["count"]
                .as_i64()
                .unwrap()
        };
        let header = || async {
            app.as_account(&worker, "get", "/ui/todo-count")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        };
        let (n0, h0) = (waiting().await, header().await);
        let r = intake(base("路灯不亮"), "zh").await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{be}");
        // The new case, confirmed once on its page (post/redirect/get).
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let case_path = location
            .strip_suffix("?new=1")
            .expect("the case page, confirming")
            .to_string();
        let page = app
            .as_account(&worker, "get", &location)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("id=\"confirmation\"") && page.contains("id=\"case-point\""),
            "{be}: the reference, the place on a map"
        );
        let page = app
            .as_account(&worker, "get", &case_path)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!page.contains("id=\"confirmation\""), "{be}: only once");
        let all: Value = app
            .get("/api/v1/cases?limit=500")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(all.as_array().unwrap().len(), before + 1, "{be}");
        assert_eq!(waiting().await, n0 + 1, "{be}: one more to classify");
        let h1 = header().await;
        assert!(
            h1.starts_with("待办") && h1 != h0,
            "{be}: the header count moved: {h0} → {h1}"
        );
        let page = app
            .as_account(&worker, "get", "/todo")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("href=\"/cases?todo=to_classify\"") && page.contains("待分类"),
            "{be}"
        );
        let page = app
            .as_account(&worker, "get", "/cases?todo=to_classify")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("id=\"todo-filter\"") && page.contains(&format!("href=\"{case_path}\"")),
            "{be}"
        );
        // The search box: a case code opens the case.
        let code = app
            .get(&format!(
                "/api/v1/cases/{}",
                case_path.rsplit('/').next().unwrap()
            ))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["code"]
            .as_str()
            .unwrap()
            .to_string();
        let r = no_redirect
            .get(format!("{}/cases?q={code}", app.base))
            .header("cookie", &worker.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], case_path.as_str(), "{be}");
        let page = app
            .as_account(&worker, "get", "/cases?q=GD20200101999999")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("id=\"searched\">没有编号为 GD20200101999999 的工单"),
            "{be}"
        );
        let page = app
            .as_account(&worker, "get", &format!("/cases?q={}", urlencoding("路灯")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(&format!("href=\"{case_path}\"")) && page.contains("近90天"),
            "{be}: words in titles"
        );
        // Signing in, the worker lands on what waits.
        let r = no_redirect
            .get(format!("{}/", app.base))
            .header("cookie", &worker.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], "/todo", "{be}");

        // A step refused: the case page again, the message above and beside the form, the text kept.
        let id: i64 = case_path.rsplit('/').next().unwrap().parse().unwrap();
        let case: Value = app
            .get(&format!("/api/v1/cases/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let version = case["version"].as_i64().unwrap();
        let step = |fields: Vec<(&'static str, String)>| {
            let mut form = reqwest::multipart::Form::new().text("_csrf", worker.csrf.clone());
            for (k, v) in fields {
                form = form.text(k, v);
            }
            no_redirect
                .post(format!("{}{case_path}/act", app.base))
                .header("cookie", &worker.cookie)
                .multipart(form)
                .send()
        };
        let r = step(vec![
            ("version", version.to_string()),
            ("action", "refuse".into()),
            ("reason", "   ".into()),
        ])
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("id=\"form-problem\"") && page.contains("理由：必填，不能为空"),
            "{be}: {}",
            &page[..page.len().min(2000)]
        );
        assert!(
            page.contains("id=\"timeline\""),
            "{be}: the case page itself"
        );
        // Who did what is said by name and role, the channel by its label.
        assert!(
            page.contains("（社区工作者）") && !page.contains("account:m."),
            "{be}: actors by name"
        );
        assert!(
            page.contains("id=\"case-channel\">网格巡查"),
            "{be}: the channel by its label"
        );
        // A stale version: said in Chinese, on the case page as it is now.
        let r = step(vec![
            ("version", (version - 1).to_string()),
            ("action", "refuse".into()),
            ("reason", "不属于社区职责".into()),
        ])
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT, "{be}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("刚被他人办理过") && page.contains("不属于社区职责"),
            "{be}: the reason typed is kept"
        );

        // An error page keeps the viewer's menu and language and links back.
        let r = no_redirect
            .get(format!("{}/cases/987654321", app.base))
            .header("cookie", &worker.cookie)
            .header("referer", format!("{}/cases?state=opened", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let page = r.text().await.unwrap();
        assert!(
            page.contains("id=\"who\"") && page.contains("找不到"),
            "{be}: signed in, in Chinese"
        );
        assert!(
            page.contains("href=\"/cases?state=opened\" id=\"back\""),
            "{be}: back to where they were"
        );
        assert!(!page.contains("javascript:"), "{be}");
        // A Referer from another site is not followed.
        let r = no_redirect
            .get(format!("{}/cases/987654321", app.base))
            .header("cookie", &worker.cookie)
            .header("referer", "https://evil.example/x")
            .send()
            .await
            .unwrap();
        assert!(
            r.text().await.unwrap().contains("href=\"/\" id=\"back\""),
            "{be}"
        );

        // Pages and assets are compressed for browsers that take it; the
        // token in a page is masked afresh each time (BREACH) and still works.
        for path in [
            "/static/vendor/echarts/echarts.common.min.js",
            "/static/app.js",
            "/cases",
        ] {
            for (offered, chosen) in [("gzip", "gzip"), ("gzip, deflate, br", "br")] {
                let r = no_redirect
                    .get(format!("{}{path}", app.base))
                    .header("cookie", &worker.cookie)
                    .header("accept-encoding", offered)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    r.headers()
                        .get("content-encoding")
                        .map(|v| v.to_str().unwrap()),
                    Some(chosen),
                    "{be} {path} {offered}"
                );
            }
        }
        let token = |page: &str| {
            page.split("name=\"_csrf\" value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        };
        let one = token(
            &no_redirect
                .get(format!("{}/intake", app.base))
                .header("cookie", &worker.cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        let two = token(
            &no_redirect
                .get(format!("{}/intake", app.base))
                .header("cookie", &worker.cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        assert!(
            one != two && one != worker.csrf,
            "{be}: the page's token is masked afresh"
        );
        let form = reqwest::multipart::Form::new()
            .text("_csrf", one)
            .text("channel", "counter")
            .text("description", "楼道灯坏了")
            .text("lon", "118.785")
            .text("lat", "32.025");
        let r = no_redirect
            .post(format!("{}/intake", app.base))
            .header("cookie", &worker.cookie)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{be}: a masked token is accepted"
        );

        // The API says each refusal in both languages.
        let r = app
            .post("/api/v1/cases")
            .body(r#"{"channel":"counter","description":"x","lon":118.785}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["field"], "lat", "{be} {e}");
        assert_eq!(e["message_zh"], "经度和纬度要一起填写", "{be} {e}");
    })
    .await;
}

/// Notifications (通知) reach people in the app: the bell's count, the
/// list, a notice that opens its case and is then read; each person
/// chooses what they receive; the gateway is set by an administrator. At
/// the counter, a person is found by ID number or phone (audited).
#[tokio::test]
async fn notifications_reach_people_and_the_counter_finds_them() {
    each_backend(|store, be| async move {
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", GRIDS).await.unwrap().committed);
        assert!(store.import_grids(&linli_store::Scope::Everything, "t", GRID_B).await.unwrap().committed);
        let app = App::spawn(store).await;
        let o = matrix_fixture(&app).await;
        let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        // The fixture dispatched the resident's case to the handler's unit.
        let handler = sign_in(&app, "m.unit_handler", MATRIX_PASSWORD).await;
        let bell = app.as_account(&handler, "get", "/ui/bell").send().await.unwrap().text().await.unwrap();
        assert!(bell.contains("id=\"unread\">1<"), "{be}: {bell}");
        let n: Value = app.as_account(&handler, "get", "/api/v1/notifications").send().await.unwrap().json().await.unwrap();
        assert_eq!(n["unread"], 1, "{be} {n}");
        assert_eq!(n["items"][0]["topic"], "assigned");
        let notice = n["items"][0]["id"].as_i64().unwrap();
        let page = app.as_account(&handler, "get", "/notifications").send().await.unwrap().text().await.unwrap();
        assert!(page.contains("派给了本单位") && page.contains("class=\"unread\""), "{be}");
        // Opening it goes to the case and reads it.
        let r = no_redirect.get(format!("{}/notifications/{notice}", app.base)).header("cookie", &handler.cookie).send().await.unwrap();
        assert_eq!(r.headers()["location"], format!("/cases/{}", o.case[0]).as_str(), "{be}");
        let n: Value = app.as_account(&handler, "get", "/api/v1/notifications").send().await.unwrap().json().await.unwrap();
        assert_eq!(n["unread"], 0, "{be}");
        // Someone else's notice is not theirs to open.
        let resident = sign_in(&app, "m.resident", MATRIX_PASSWORD).await;
        let r = no_redirect.get(format!("{}/notifications/{notice}", app.base)).header("cookie", &resident.cookie).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{be}");
        // The resident heard of each step of their request.
        let n: Value = app.as_account(&resident, "get", "/api/v1/notifications").send().await.unwrap().json().await.unwrap();
        assert!(n["unread"].as_i64().unwrap() >= 2 && n["items"].as_array().unwrap().iter().all(|x| x["topic"] == "my_request"), "{be} {n}");
        // The handler mutes new dispatches: the next one is not delivered.
        let r = app.as_account(&handler, "post", "/notifications/settings")
            .form(&[("_csrf", handler.csrf.as_str()), ("topic", "overdue")]).send().await.unwrap();
        assert!(r.text().await.unwrap().contains("id=\"choice-saved\""), "{be}");
        let c = admin_json(&app, "post", "/api/v1/cases", r#"{"channel":"counter","description":"井盖缺失","lon":118.785,"lat":32.025,"category":"0601"}"#.into()).await;
        let path = format!("/api/v1/cases/{}/actions", c["id"]);
        let c = admin_json(&app, "post", &path, format!(r#"{{"version":{},"action":"open"}}"#, c["version"])).await;
        admin_json(&app, "post", &path, format!(r#"{{"version":{},"action":"dispatch","unit":{}}}"#, c["version"], o.unit[0])).await;
        let n: Value = app.as_account(&handler, "get", "/api/v1/notifications").send().await.unwrap().json().await.unwrap();
        assert_eq!(n["items"].as_array().unwrap().len(), 1, "{be}: muted: no new notice");
        // The gateway: an administrator's setting, checked.
        let r = app.http.put(format!("{}/api/v1/notify-gateway", app.base)).bearer_auth(TOKEN).body(r#"{"url":"http://169.254.169.254/x"}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        let r = app.http.put(format!("{}/api/v1/notify-gateway", app.base)).bearer_auth(TOKEN).body(r#"{"url":"https://sms.example/hook"}"#).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["url"], "https://sms.example/hook", "{be}");
        let r = app.as_account(&handler, "put", "/api/v1/notify-gateway").body(r#"{"url":null}"#).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{be}: not the handler's to set");

        // Me too (我也遇到): another resident reporting nearby is offered the
        // open case of the same kind (without its text), joins it, sees it,
        // hears of its steps, and may not act on it.
        admin_json(&app, "post", "/api/v1/accounts", serde_json::json!({"username": "m.neighbour", "role": "resident", "password": MATRIX_PASSWORD}).to_string()).await;
        let neighbour = sign_in(&app, "m.neighbour", MATRIX_PASSWORD).await;
        let near = app.as_account(&neighbour, "get", "/ui/nearby?lon=118.7851&lat=32.0251&category=0601").send().await.unwrap().text().await.unwrap();
        assert!(near.contains(&format!("action=\"/cases/{}/join\"", o.case[0])) && near.contains("我也遇到（+1）"), "{be}: {near}");
        assert!(!near.contains("楼道堆物"), "{be}: a resident does not read another's report");
        let far = app.as_account(&neighbour, "get", "/ui/nearby?lon=118.7851&lat=32.0251&category=1101").send().await.unwrap().text().await.unwrap();
        assert!(!far.contains("/join"), "{be}: another kind of problem is not offered");
        let worker = sign_in(&app, "m.community_worker", MATRIX_PASSWORD).await;
        let staff = app.as_account(&worker, "get", "/ui/nearby?lon=118.7851&lat=32.0251").send().await.unwrap().text().await.unwrap();
        assert!(staff.contains("楼道堆物") && !staff.contains("/join"), "{be}: staff see which case, and do not join");
        let r = no_redirect.post(format!("{}/cases/{}/join", app.base, o.case[0])).header("cookie", &neighbour.cookie).form(&[("_csrf", neighbour.csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.headers()["location"], format!("/cases/{}", o.case[0]).as_str(), "{be}");
        let page = app.as_account(&neighbour, "get", &format!("/cases/{}", o.case[0])).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"followers\">1 人") && page.contains("我也遇到"), "{be}: the case, with one more affected");
        // A follower sees what is done and by when, not the other resident's text, place, name or photos.
        assert!(!page.contains("楼道堆物") && !page.contains("class=\"photos\"") && !page.contains("id=\"case-point\""), "{be}: follower view");
        let api: Value = app.as_account(&neighbour, "get", &format!("/api/v1/cases/{}", o.case[0])).send().await.unwrap().json().await.unwrap();
        assert_eq!((api["description"].as_str(), api["address"].as_str(), api["reporter_name"].is_null()), (Some(""), Some(""), true), "{be} {api}");
        let tl: Value = app.as_account(&neighbour, "get", &format!("/api/v1/cases/{}/timeline", o.case[0])).send().await.unwrap().json().await.unwrap();
        assert!(tl.as_array().unwrap().iter().all(|e| e["note"] == "" && e["actor"] == ""), "{be}: no notes or names in the timeline");
        let photos: Value = app.as_account(&neighbour, "get", &format!("/api/v1/cases/{}/photos", o.case[0])).send().await.unwrap().json().await.unwrap();
        assert_eq!(photos.as_array().map(Vec::len), Some(0), "{be}: no photos {photos}");
        let r = app.as_account(&neighbour, "get", &format!("/api/v1/photos/{}", o.photo[0])).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{be}: nor one by its id");
        let mine = app.as_account(&neighbour, "get", "/my").send().await.unwrap().text().await.unwrap();
        assert!(mine.contains(&format!("href=\"/cases/{}\"", o.case[0])), "{be}: in their requests");
        let c = admin_json(&app, "get", &format!("/api/v1/cases/{}", o.case[0]), String::new()).await;
        let r = app.as_account(&neighbour, "post", &format!("/api/v1/cases/{}/actions", o.case[0])).body(format!(r#"{{"version":{},"action":"reopen","reason":"x"}}"#, c["version"])).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{be}: joining does not open the case's steps");
        admin_json(&app, "post", &format!("/api/v1/cases/{}/actions", o.case[0]), format!(r#"{{"version":{},"action":"accept"}}"#, c["version"])).await;
        let n: Value = app.as_account(&neighbour, "get", "/api/v1/notifications").send().await.unwrap().json().await.unwrap();
        assert_eq!(n["unread"], 1, "{be}: told of the next step {n}");
        assert!(n.to_string().contains("您也遇到的问题"), "{be}: as one who joined it {n}");

        // The counter: a person found by their mobile number (audited), their
        // page with who lives with them and the requests they reported.
        admin_json(&app, "post", "/api/v1/cases", r#"{"channel":"counter","description":"门口下水道堵了","lon":118.785,"lat":32.025,"reporter_phone":"13800138000"}"#.into()).await;
        let secretary = sign_in(&app, "m.community_secretary", MATRIX_PASSWORD).await;
        let lookup = |who: &Signed, path: &str, field: &str, number: &str| {
            app.as_account(who, "post", path).form(&[("_csrf", who.csrf.as_str()), (field, number)]).send()
        };
        let page = lookup(&secretary, "/registry/lookup", "lookup", "138 0013 8000").await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"lookup-note\">按身份证号或电话查到 1 人") && page.contains(&format!("/people/{}", o.person[0])), "{be}");
        assert!(!page.contains("138 0013 8000") && !page.contains("13800138000"), "{be}: the number is not echoed");
        let log: Value = app.get("/api/v1/audit?limit=1").send().await.unwrap().json().await.unwrap();
        assert_eq!(log[0]["action"], "person.lookup_phone", "{be}");
        // A number in the address is not looked up.
        let page = app.as_account(&secretary, "get", "/registry?phone=13800138000").send().await.unwrap().text().await.unwrap();
        assert!(page.contains("号码不放在网址中") && !page.contains(&format!("/people/{}\"", o.person[0])), "{be}");
        let worker = sign_in(&app, "m.community_worker", MATRIX_PASSWORD).await;
        let page = lookup(&worker, "/registry/lookup", "lookup", "13800138000").await.unwrap().text().await.unwrap();
        assert!(page.contains("须有查看完整个人信息的权限") && !page.contains(&format!("/people/{}\"", o.person[0])), "{be}: not for a worker");
        // The caller's cases by phone: posted, audited; not from the address.
        let page = lookup(&worker, "/cases/lookup", "phone", "13800138000").await.unwrap().text().await.unwrap();
        assert!(page.contains("门口下水道堵了") && page.contains("按来电号码查找（已记入审计日志）"), "{be}");
        let log: Value = app.get("/api/v1/audit?limit=1").send().await.unwrap().json().await.unwrap();
        assert_eq!(log[0]["action"], "case.lookup_phone", "{be}");
        let page = app.as_account(&worker, "get", "/cases?q=13800138000").send().await.unwrap().text().await.unwrap();
        assert!(page.contains("电话号码不放在网址中") && !page.contains("门口下水道堵了"), "{be}");
        let page = app.as_account(&secretary, "get", &format!("/people/{}", o.person[0])).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"dwelling\"") && page.contains("王秀英"), "{be}");
        assert!(page.contains("id=\"person-cases\"><li>") && page.contains("门口下水道堵了"), "{be}: the requests they reported");
        // Not for a worker, who may not unmask: which cases a person
        // reported would undo the mask of the cases' reporter names.
        let page = app.as_account(&worker, "get", &format!("/people/{}", o.person[0])).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"dwelling\"") && !page.contains("person-cases") && !page.contains("门口下水道堵了"), "{be}");
    })
    .await;
}

/// The administrator's page (管理): a unit, a dispatch rule and an account
/// made from forms; a refused form comes back with its values and the
/// message in Chinese; other roles may not use it.
#[tokio::test]
async fn an_administrator_makes_units_rules_and_accounts() {
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
        let o = matrix_fixture(&app).await;
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let admin = sign_in(&app, "m.district_admin", MATRIX_PASSWORD).await;
        let post = |path: &'static str, form: Vec<(&'static str, String)>| {
            let mut form = form;
            form.push(("_csrf", admin.csrf.clone()));
            no_redirect
                .post(format!("{}{path}", app.base))
                .header("cookie", &admin.cookie)
                .form(&form)
                .send()
        };
        // A unit without a name: back in place, the kind kept.
        let r = post(
            "/admin/units",
            vec![
                ("org_id", o.community[0].to_string()),
                ("name", " ".into()),
                ("kind", "water".into()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("名称：不能为空") && page.contains("value=\"water\" selected"),
            "{be}"
        );
        let r = post(
            "/admin/units",
            vec![
                ("org_id", o.community[0].to_string()),
                ("name", "自来水公司".into()),
                ("kind", "water".into()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{be}");
        let page = app
            .as_account(&admin, "get", "/admin")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("自来水公司") && page.contains("供水"),
            "{be}: the unit, its kind by label"
        );
        let units: Value = app
            .get("/api/v1/units")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let water = units
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == "自来水公司")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let r = post(
            "/admin/dispatch-rules",
            vec![
                ("org_id", o.community[0].to_string()),
                ("category", "0601".into()),
                ("unit_id", water.to_string()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{be}");
        let page = app
            .as_account(&admin, "get", "/admin")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("id=\"rule-list\"") && page.matches("自来水公司").count() >= 2,
            "{be}: the rule is listed"
        );
        // A group, not a leaf category: refused by name.
        let r = post(
            "/admin/dispatch-rules",
            vec![
                ("org_id", o.community[0].to_string()),
                ("category", "06".into()),
                ("unit_id", water.to_string()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        assert!(
            r.text().await.unwrap().contains("是大类，请选择其下的小类"),
            "{be}"
        );
        // An account; a weak password is refused, the name kept, the password not.
        let r = post(
            "/admin/accounts",
            vec![
                ("username", "li.si".into()),
                ("display_name", "李四".into()),
                ("role", "grid_member".into()),
                ("org_code", "320104001001".into()),
                ("password", "short".into()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("密码：至少10个字符")
                && page.contains("value=\"li.si\"")
                && !page.contains("value=\"short\""),
            "{be}"
        );
        let r = post(
            "/admin/accounts",
            vec![
                ("username", "li.si".into()),
                ("display_name", "李四".into()),
                ("role", "grid_member".into()),
                ("org_code", "320104001001".into()),
                ("password", "网格员-口令-2026".into()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{be}");
        sign_in(&app, "li.si", "网格员-口令-2026").await;
        // A user name of digits alone would read as an account id in the audit log.
        let r = post(
            "/admin/accounts",
            vec![
                ("username", "12".into()),
                ("role", "resident".into()),
                ("password", "网格员-口令-2026".into()),
            ],
        )
        .await
        .unwrap();
        assert!(r.text().await.unwrap().contains("不能全是数字"), "{be}");
        // Not for a worker.
        let worker = sign_in(&app, "m.community_worker", MATRIX_PASSWORD).await;
        let r = no_redirect
            .get(format!("{}/admin", app.base))
            .header("cookie", &worker.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{be}");
    })
    .await;
}

/// The administrator's lists (管理 · 设置): a category, a calendar day, the
/// district's tags, a 12345 mapping entry and the gateway, each saved from
/// its form or refused in place in Chinese; a worker edits a person's
/// record and tags (audited), a refused edit keeps the choices.
#[tokio::test]
async fn an_administrator_keeps_the_lists_and_a_worker_edits_a_person() {
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
        let audit = store.clone();
        let app = App::spawn(store).await;
        let o = matrix_fixture(&app).await;
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let admin = sign_in(&app, "m.district_admin", MATRIX_PASSWORD).await;
        let worker = sign_in(&app, "m.community_worker", MATRIX_PASSWORD).await;
        let post = |who: &Signed, path: String, form: Vec<(&'static str, String)>| {
            let mut form = form;
            form.push(("_csrf", who.csrf.clone()));
            no_redirect
                .post(format!("{}{path}", app.base))
                .header("cookie", &who.cookie)
                .form(&form)
                .send()
        };
        let refused = |r: reqwest::Response| async move {
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
            r.text().await.unwrap()
        };
        let saved = |r: reqwest::Response| {
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            r.headers()["location"].to_str().unwrap().to_string()
        };
        let settings = || async {
            app.as_account(&admin, "get", "/admin/settings?year=2027")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        };
        // A category: a leaf without its limit is refused, the values kept.
        let cat = |limit: &str| {
            vec![
                ("op", "save".to_string()),
                ("code", "0699".into()),
                ("parent", "06".into()),
                ("name", "共享单车乱停".into()),
                ("name_en", "Shared bikes".into()),
                ("response_hours", "2".into()),
                ("limit_value", limit.to_string()),
                ("limit_kind", "working_days".into()),
                ("unit_kind", "urban_management".into()),
            ]
        };
        let page = refused(
            post(&admin, "/admin/categories".into(), cat("0"))
                .await
                .unwrap(),
        )
        .await;
        assert!(
            page.contains("办理时限") && page.contains("value=\"共享单车乱停\""),
            "{be}"
        );
        saved(
            post(&admin, "/admin/categories".into(), cat("3"))
                .await
                .unwrap(),
        );
        assert!(settings().await.contains("共享单车乱停"), "{be}");
        let cats: Value = app
            .get("/api/v1/categories")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(cats.to_string().contains("0699"), "{be}");
        // A group with sub-categories cannot go.
        let page = refused(
            post(
                &admin,
                "/admin/categories".into(),
                vec![("op", "remove".into()), ("code", "06".into())],
            )
            .await
            .unwrap(),
        )
        .await;
        assert!(page.contains("下还有分类"), "{be}");
        // Calendar: a make-up working day on a weekday is refused; a holiday is listed.
        let page = refused(
            post(
                &admin,
                "/admin/calendar".into(),
                vec![
                    ("day", "2027-03-03".into()),
                    ("kind", "workday".into()),
                    ("name", "调休".into()),
                ],
            )
            .await
            .unwrap(),
        )
        .await;
        assert!(
            page.contains("调休上班日应在周末") && page.contains("value=\"2027-03-03\""),
            "{be}"
        );
        let to = saved(
            post(
                &admin,
                "/admin/calendar".into(),
                vec![
                    ("day", "2027-03-03".into()),
                    ("kind", "holiday".into()),
                    ("name", "临时假日".into()),
                ],
            )
            .await
            .unwrap(),
        );
        assert!(to.contains("year=2027"), "{be}: {to}");
        let page = settings().await;
        assert!(
            page.contains("2027-03-03") && page.contains("临时假日"),
            "{be}"
        );
        // Tags: a separator inside a tag is refused; the list is saved.
        let page = refused(
            post(
                &admin,
                "/admin/tags".into(),
                vec![("tags", "低保户\n空巢,老人".into())],
            )
            .await
            .unwrap(),
        )
        .await;
        assert!(
            page.contains("分隔符") && page.contains("空巢,老人"),
            "{be}"
        );
        saved(
            post(
                &admin,
                "/admin/tags".into(),
                vec![("tags", "低保户\n空巢老人".into())],
            )
            .await
            .unwrap(),
        );
        // 12345 mapping: to a group is refused; to a leaf listed, then removed.
        let map = |code: &str| {
            vec![
                ("op", "save".to_string()),
                ("text", "城乡建设/市容环境/共享单车".into()),
                ("category", code.to_string()),
            ]
        };
        let page = refused(
            post(&admin, "/admin/hotline-categories".into(), map("06"))
                .await
                .unwrap(),
        )
        .await;
        assert!(page.contains("城乡建设/市容环境/共享单车"), "{be}");
        saved(
            post(&admin, "/admin/hotline-categories".into(), map("0699"))
                .await
                .unwrap(),
        );
        assert!(settings().await.contains("共享单车乱停"), "{be}");
        let listed: Value = app
            .get("/api/v1/hotline-categories")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["城乡建设/市容环境/共享单车"], "0699", "{be}");
        saved(
            post(
                &admin,
                "/admin/hotline-categories".into(),
                vec![
                    ("op", "remove".into()),
                    ("text", "城乡建设/市容环境/共享单车".into()),
                ],
            )
            .await
            .unwrap(),
        );
        let listed: Value = app
            .get("/api/v1/hotline-categories")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(listed.as_object().unwrap().is_empty(), "{be}");
        // The gateway: a link-local address is refused.
        refused(
            post(
                &admin,
                "/admin/gateway".into(),
                vec![("url", "http://169.254.169.254/x".into())],
            )
            .await
            .unwrap(),
        )
        .await;
        saved(
            post(
                &admin,
                "/admin/gateway".into(),
                vec![("url", "https://sms.example.cn/hook".into())],
            )
            .await
            .unwrap(),
        );
        assert!(
            settings().await.contains("https://sms.example.cn/hook"),
            "{be}"
        );
        // The city's extent: refused in Chinese beside its field when the
        // minimum comes after the maximum; once set, a grid outside it is
        // refused by an import; cleared, China's extent applies again.
        let extent = |v: &str| vec![("extent", v.to_string())];
        let page = refused(
            post(&admin, "/admin/city-extent".into(), extent("120, 31, 118, 33"))
                .await
                .unwrap(),
        )
        .await;
        assert!(page.contains("须先写最小经度"), "{be}");
        saved(
            post(&admin, "/admin/city-extent".into(), extent("118.0，31.0，120.0，33.0"))
                .await
                .unwrap(),
        );
        assert!(settings().await.contains("118, 31, 120, 33"), "{be}");
        let chengdu = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"510104001001001"},"geometry":{"type":"Polygon","coordinates":[[[104.0,30.6],[104.01,30.6],[104.01,30.61],[104.0,30.61],[104.0,30.6]]]}}]}"#;
        let r = app
            .post("/api/v1/import/grids")
            .body(chengdu)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{be}");
        assert!(r.text().await.unwrap().contains("118–120°E"), "{be}");
        saved(
            post(&admin, "/admin/city-extent".into(), extent(""))
                .await
                .unwrap(),
        );
        assert!(!settings().await.contains("118, 31, 120, 33"), "{be}");
        // Not for a worker.
        let r = post(&worker, "/admin/tags".into(), vec![("tags", "x".into())])
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{be}");

        // A worker edits a person: a bad phone comes back in place with the
        // tags chosen kept; a good edit is saved and audited.
        let person = o.person[0];
        let edit = |phone: &str| {
            vec![
                ("phone", phone.to_string()),
                ("relation", "tenant".into()),
                ("head_relation", "配偶".into()),
                ("tags", "elderly_alone".into()),
                ("tags", "空巢老人".into()),
            ]
        };
        let page = refused(
            post(&worker, format!("/people/{person}/edit"), edit("12345"))
                .await
                .unwrap(),
        )
        .await;
        assert!(
            page.contains("手机号码：") && page.contains("id=\"edit-error\""),
            "{be}"
        );
        assert!(
            page.contains("value=\"空巢老人\" checked") && page.contains("value=\"配偶\""),
            "{be}"
        );
        assert!(
            page.contains("<input id=\"e-phone\" name=\"phone\" inputmode=\"tel\" maxlength=\"20\" autocomplete=\"off\">"),
            "{be}: the number typed is not put back into the field"
        );
        let to = saved(
            post(
                &worker,
                format!("/people/{person}/edit"),
                edit("186 0000 2335"),
            )
            .await
            .unwrap(),
        );
        assert_eq!(to, format!("/people/{person}?saved=1"), "{be}");
        let page = app
            .as_account(&worker, "get", &to)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("id=\"person-saved\"")
                && page.contains("186****2335")
                && page.contains("空巢老人"),
            "{be}"
        );
        assert!(
            page.contains("与户主关系 配偶") && page.contains("独居老人"),
            "{be}"
        );
        let log = audit.audit_entries(50).await.unwrap();
        assert!(
            log.iter().any(|e| e.action == "person.edit"
                && e.object == format!("person:{person}")
                && e.detail.contains("186****2335")),
            "{be}"
        );
        // The API edits alike; an unknown field is refused.
        let r = app
            .http
            .put(format!("{}/api/v1/people/{person}", app.base))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"relation": "owner", "tags": ["党员"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{be}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["tags"],
            "party_member",
            "{be}"
        );
        let r = app
            .http
            .put(format!("{}/api/v1/people/{person}", app.base))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"relation": "owner", "id_number": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{be}");
    })
    .await;
}
