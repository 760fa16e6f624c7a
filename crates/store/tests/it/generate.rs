use super::*;
use linli_core::ids::OrgId;

/// A generated year of cases: the rollup written beside the rows gives
/// the same counts as the rows, the CSV for peers holds every row, and
/// generated cases dispatch to units of the generated city.
#[tokio::test]
async fn generated_case_history_and_its_rollup() {
    each(|store, be| async move {
        use chrono::TimeZone;
        let stats = store.load_synth(3_000, 7, &|_, _| {}).await.unwrap();
        // 1 district × 10 departments, 1 community × 2.
        assert_eq!(stats.handling_units, 12, "{be}");
        let until = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut csv: Vec<u8> = Vec::new();
        let n = store
            .load_synth_cases(3_000, 3, until, Some(&mut csv), &|_, _| {})
            .await
            .unwrap();
        assert_eq!(n, 3_000);
        let text = String::from_utf8(csv).unwrap();
        assert_eq!(text.lines().count(), 3_000);
        let (from, to) = linli_core::period::parse_period("2026").unwrap();
        let (from, to) = (from - 61 * 86_400_000, to.min(until.timestamp_millis()));
        let now = chrono::Utc::now().timestamp_millis().min(to);
        let (by_unit, total) = store.rates(&Scope::Everything, from, to).await.unwrap();
        let raw = store
            .rate_counts_of_cases(&Scope::Everything, from, to, now)
            .await
            .unwrap();
        let sum = |f: fn(&linli_store::rates::RateCounts) -> i64| raw.iter().map(f).sum::<i64>();
        assert_eq!(total.counts.requests, 3_000, "{be}");
        assert_eq!(total.counts.closed, sum(|c| c.closed));
        assert_eq!(total.counts.due, sum(|c| c.due));
        assert_eq!(total.counts.satisfied, sum(|c| c.satisfied));
        assert_eq!(total.counts.closed_on_time, sum(|c| c.closed_on_time));
        assert!(by_unit.len() >= 8, "{be} {}", by_unit.len());
        // Plausible shares: most respond in time, most close on time, most are satisfied.
        for (rate, lo, hi) in [
            (total.response_rate, 0.8, 1.0),
            (total.on_time_rate, 0.6, 0.99),
            (total.satisfaction_rate, 0.85, 0.99),
        ] {
            let r = rate.unwrap();
            assert!(r > lo && r < hi, "{be} {r}");
        }
        // They read like requests (every channel, texts, addresses,
        // reporters with sealed phones) and each has the timeline the case
        // machine takes to its state.
        type Generated = (i64, String, String, String, String, String, Option<String>, Option<String>, Option<Vec<u8>>);
        type Event = (i64, String, String, String, i64);
        let rows: Vec<Generated> =
            linli_store::with_db!(&store.db, p => {
                sqlx::query_as("SELECT id, channel, state, title, description, address, reporter_name, reporter_phone_masked, reporter_phone_enc FROM service_case ORDER BY id")
                    .fetch_all(p).await.unwrap()
            });
        let mut channels: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        channels.sort_unstable();
        channels.dedup();
        assert_eq!(channels.len(), 6, "{be}: {channels:?}");
        assert!(rows.iter().all(|r| r.3 != r.4 && !r.5.is_empty()), "{be}");
        let mut titles: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        titles.sort_unstable();
        titles.dedup();
        assert!(titles.len() > 1_000, "{be}: varied titles ({})", titles.len());
        let with_phone = rows.iter().filter(|r| r.7.is_some()).count();
        assert!(with_phone > 2_000, "{be}: {with_phone}");
        assert!(rows.iter().all(|r| r.7.is_some() == r.8.is_some() && r.6.is_some() == r.7.is_some()), "{be}");
        let events: Vec<Event> = linli_store::with_db!(&store.db, p => {
            sqlx::query_as("SELECT case_id, action, from_state, to_state, at FROM case_event ORDER BY case_id, at, id")
                .fetch_all(p).await.unwrap()
        });
        let mut by_case: std::collections::HashMap<i64, Vec<&Event>> = Default::default();
        for e in &events {
            by_case.entry(e.0).or_default().push(e);
        }
        type Clocks = (i64, Option<i64>, Option<i64>, i32, i32);
        let clocks: Vec<Clocks> = linli_store::with_db!(&store.db, p => {
            sqlx::query_as("SELECT id, responded_at, closed_at, extension_count, rework_count FROM service_case ORDER BY id")
                .fetch_all(p).await.unwrap()
        });
        for (r, (_, responded, closed, extension, rework)) in rows.iter().zip(&clocks) {
            let steps = by_case.get(&r.0).unwrap_or_else(|| panic!("{be}: case {} has no timeline", r.0));
            assert_eq!(steps[0].1, "register", "{be}");
            for w in steps.windows(2) {
                assert_eq!(w[0].3, w[1].2, "{be}: case {} steps chain", r.0);
                assert!(w[0].4 < w[1].4, "{be}: case {} steps in time", r.0);
            }
            // The timeline ends in the row's state, its steps at the row's times.
            assert_eq!(steps.last().unwrap().3, r.2, "{be}: case {}", r.0);
            let at = |action: &str| steps.iter().find(|e| e.1 == action).map(|e| e.4);
            if at("accept").is_some() {
                assert_eq!(at("accept"), *responded, "{be}: case {} accepted when responded", r.0);
            }
            if let Some(c) = closed {
                let closing = steps.iter().find(|e| e.3 == "closed" && (e.1 == "verify" || e.1 == "answer_on_spot"));
                assert_eq!(closing.map(|e| e.4), Some(*c), "{be}: case {} closed when its row says", r.0);
            }
            assert_eq!(at("request_extension").is_some(), *extension > 0, "{be}: case {}", r.0);
            let failed = steps.iter().any(|e| e.1 == "verify" && e.3 == "handling");
            assert_eq!(failed, *rework > 0 && closed.is_some(), "{be}: case {}", r.0);
        }
        assert!(events.iter().any(|e| e.1 == "return_visit") && events.iter().any(|e| e.1 == "verify"), "{be}");
        // A reporter's phone finds their cases (the blind index is the
        // intake's own).
        let with = rows.iter().find(|r| r.8.is_some()).unwrap();
        let phone = store
            .case_originals(&Scope::Everything, with.0, "t", "核实来电")
            .await
            .unwrap()
            .reporter_phone
            .unwrap();
        assert_eq!(Some(linli_core::mask::phone(&phone)), with.7, "{be}");
        let found = store
            .cases_by_phone(&Scope::Everything, &linli_store::cases::CaseFilter::default(), &phone, "t")
            .await
            .unwrap();
        assert!(!found.is_empty(), "{be}");
        // A new request at a compound finds its grid and the grid's staff.
        let c = store
            .compounds(&Scope::Everything, None)
            .await
            .unwrap()
            .remove(0);
        let req = linli_store::cases::NewRequest {
            channel: "grid_patrol".into(),
            description: "楼道堆放杂物".into(),
            lon: c.lon,
            lat: c.lat,
            ..Default::default()
        };
        let case = store
            .intake(&Scope::Everything, "grid:1", &req)
            .await
            .unwrap();
        assert_eq!(case.row.grid_id, Some(c.grid_id), "{be}");
        let case = store.case(&Scope::Everything, case.row.id).await.unwrap();
        let titles: Vec<&str> = case.grid_staff.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, vec!["专职网格员", "网格长"], "{be}");
        // Rebuilt from the rows, the rollup is the same.
        store.rebuild_rollup().await.unwrap();
        let (_, again) = store.rates(&Scope::Everything, from, to).await.unwrap();
        assert_eq!(again.counts, total.counts, "{be}"); // the live case is after `to`
    })
    .await;
}

#[tokio::test]
async fn generated_city_loads_with_posts_and_places() {
    each(|store, be| async move {
        let stats = store.load_synth(3_000, 7, &|_, _| {}).await.unwrap();
        assert_eq!(stats.people, 3_000, "{be}");
        let s = store.scope_stats(&Scope::Everything).await.unwrap();
        assert_eq!(s.people, 3_000);
        assert_eq!(s.grids, 4);
        assert_eq!(s.dwellings as u64, stats.dwellings);
        // Every compound's point lies in its own grid.
        for c in store.compounds(&Scope::Everything, None).await.unwrap() {
            let g = store
                .locate_grid(&Scope::Everything, c.lon.unwrap(), c.lat.unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(g.id, c.grid_id);
        }
        // One grid, several people (一格多员); one person, several grids (多格一员).
        let grids = store
            .org_units(&Scope::Everything, Some(OrgKind::Grid))
            .await
            .unwrap();
        let posts = store
            .posts(&Scope::Everything, Some(grids[0].id), None)
            .await
            .unwrap();
        assert_eq!(posts.len(), 2);
        let head = posts.iter().find(|p| p.title == "网格长").unwrap();
        assert_eq!(
            store
                .posts(&Scope::Everything, None, Some(head.staff_id))
                .await
                .unwrap()
                .len(),
            4
        );
        // A second load is refused; new rows after a load get fresh ids.
        assert!(matches!(
            store.load_synth(10, 1, &|_, _| {}).await,
            Err(StoreError::Conflict(_))
        ));
        let t = read_csv(
            format!(
                "网格编码,小区,楼栋,房号,姓名\n{},新小区,1栋,101,新居民\n",
                grids[0].code
            )
            .as_bytes(),
        )
        .unwrap();
        let r = store
            .import_registry(&Scope::Everything, "x", &t, &|_, _| {})
            .await
            .unwrap();
        assert!(r.committed, "{:?}", r.errors);
        assert_eq!(
            store.scope_stats(&Scope::Everything).await.unwrap().people,
            3_001
        );
        // Staff duties: a duplicate post is a conflict.
        let staff = store
            .create_staff(
                &Scope::Everything,
                grids[0].id,
                "新网格员",
                Some("13700001111"),
            )
            .await
            .unwrap();
        store
            .assign_post(&Scope::Everything, OrgId(grids[0].id), staff, "兼职网格员")
            .await
            .unwrap();
        assert!(matches!(
            store
                .assign_post(&Scope::Everything, OrgId(grids[0].id), staff, "兼职网格员")
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(
            store
                .create_staff(&Scope::Everything, grids[0].id, "x", Some("123"))
                .await
                .is_err()
        );
    })
    .await;
}
