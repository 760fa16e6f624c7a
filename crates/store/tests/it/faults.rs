//! Faults and races (issue 12): a rollup rebuild while requests keep
//! arriving loses none of them from the rollup.

use super::*;

use linli_store::cases::NewRequest;

#[tokio::test]
async fn a_rollup_rebuild_during_intake_loses_no_case() {
    each(|store, be| async move {
        setup_registry(&store).await;
        // Enough cases that a rebuild's scan takes a while, as in a city.
        store
            .load_synth_cases(40_000, 5, chrono::Utc::now(), None, &|_, _| {})
            .await
            .unwrap();
        let senders: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..100 {
                        let r = NewRequest {
                            channel: "counter".into(),
                            description: format!("路灯不亮 {w}-{i}"),
                            lon: Some(118.785),
                            lat: Some(32.025),
                            ..Default::default()
                        };
                        store.intake(&Scope::Everything, "counter:1", &r).await.unwrap();
                    }
                })
            })
            .collect();
        // Rebuild again and again while they arrive (with a pause: on
        // SQLite a rebuild holds the one write lock while it runs).
        while !senders.iter().all(|s| s.is_finished()) {
            store.rebuild_rollup().await.unwrap();
            store.fold_rollup().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        for s in senders {
            s.await.unwrap();
        }
        store.fold_rollup().await.unwrap();
        // What the rollup holds now must be what a quiet rebuild finds.
        async fn rollup(store: &Store) -> Vec<(String, String, i64, String, i64, i64)> {
            linli_store::with_db!(&store.db, p => {
                sqlx::query_as("SELECT CAST(month AS TEXT), area, unit_id, category, requests, opened FROM case_rollup ORDER BY 1, 2, 3, 4")
                    .fetch_all(p).await.unwrap()
            })
        }
        let live = rollup(&store).await;
        store.rebuild_rollup().await.unwrap();
        let quiet = rollup(&store).await;
        assert!(!quiet.is_empty());
        let differ: Vec<_> = live.iter().zip(&quiet).filter(|(a, b)| a != b).take(3).collect();
        assert!(
            live.len() == quiet.len() && differ.is_empty(),
            "{be}: the rollup lost or doubled cases: {differ:?}"
        );
    })
    .await;
}
