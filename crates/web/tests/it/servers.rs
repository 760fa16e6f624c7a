use super::*;
use linli_core::ids::CaseId;

/// Three servers on one database, each running the background jobs at
/// once (the lease bypassed, as when it runs out in a slow round) while
/// cases come in and are dispatched: every webhook is sent once, every
/// overdue case alerted once, the audit chain verifies and the rollup
/// equals the cases. Then the lease: one holder at a time.
#[tokio::test]
async fn several_servers_share_one_database() {
    use linli_core::case::Action;
    use linli_store::Scope;
    use std::collections::HashMap;

    linli_store::testkit::each_backend_shared(3, |stores, be| async move {
        let receiver = WebhookReceiver::start(0).await;
        let url = receiver.url.clone();

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
                        .act_at(
                            &all,
                            "x",
                            CaseId(c.row.id),
                            c.row.version,
                            &Action::Open,
                            long_ago,
                        )
                        .await
                        .unwrap();
                    store
                        .act_at(
                            &all,
                            "x",
                            CaseId(c.row.id),
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
        let got = receiver.deliveries();
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for d in &got {
            *seen.entry(d.delivery_id.as_str()).or_default() += 1;
        }
        assert!(
            seen.values().all(|n| *n == 1),
            "{be}: a webhook was sent twice: {seen:?}"
        );
        let dispatched = got.iter().filter(|d| d.event == "case.dispatched").count();
        assert_eq!(dispatched, cases, "{be}");
        assert_eq!(
            stores[1].outbox_counts().await.unwrap(),
            (0, got.len() as i64),
            "{be}"
        );
        // One overdue alert a case.
        let alerts = stores[2].alerts(&all, 500).await.unwrap();
        let mut per_case: HashMap<i64, u32> = HashMap::new();
        for a in alerts.iter().filter(|a| a.kind == "overdue") {
            *per_case.entry(a.case_id).or_default() += 1;
        }
        assert_eq!(per_case.len(), cases, "{be}");
        assert!(per_case.values().all(|n| *n == 1), "{be}: {per_case:?}");
        // The chain holds every entry once.
        let v = stores[0].audit_verify(None).await.unwrap();
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
        // Server 1 has counted the (empty) registry for its overview.
        assert_eq!(stores[1].scope_stats(&all).await.unwrap().people, 0, "{be}");
        stores[0].import_grids(&all, "t", GRIDS).await.unwrap();
        let table = linli_store::import::read_csv(REGISTRY.as_bytes()).unwrap();
        let report = stores[0]
            .import_registry(&all, "t", &table, &|_, _| {})
            .await
            .unwrap();
        assert!(report.committed, "{be}");
        // Until it hears of the change, server 1 answers from its cache.
        assert_eq!(stores[1].scope_stats(&all).await.unwrap().people, 0, "{be}");
        stores[1].refresh_caches().await.unwrap();
        let counts = stores[1].scope_stats(&all).await.unwrap();
        assert_eq!((counts.grids, counts.people), (1, 1), "{be}");
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
        stores[0].save_categories("test", &t).await.unwrap();
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
