//! Lists at city scale (issue 13): every way a case or people list is read
//! (the index chosen for its shape, keyset pages) gives exactly the rows a
//! plain filter over all of them gives, in order; the fine rollup of
//! communities and grids agrees with their cases.

use super::*;
use linli_core::case::State as CaseState;
use linli_store::cases::{CaseFilter, CaseView};
use linli_store::with_db;

/// (id, scope_path, state, category, parent category, unit, channel,
/// created_at, due_at, overdue_at) of every case, straight from the table.
type Plain = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

async fn plain_cases(store: &Store) -> Vec<Plain> {
    with_db!(&store.db, p => {
        sqlx::query_as("SELECT c.id, c.scope_path, c.state, c.category_code, cat.parent_code, c.unit_id, c.channel, c.created_at, c.due_at, c.overdue_at
                        FROM service_case c LEFT JOIN category cat ON cat.code = c.category_code ORDER BY c.id DESC")
            .fetch_all(p).await.unwrap()
    })
}

/// Every page of a list, following the keyset cursor.
async fn all_pages(store: &Store, scope: &Scope, f: &CaseFilter) -> Vec<CaseView> {
    let mut f = f.clone();
    f.limit = 37;
    let mut out: Vec<CaseView> = Vec::new();
    loop {
        let page = store.cases(scope, &f).await.unwrap();
        let Some(last) = page.last() else { break };
        f.before_id = Some(last.row.id);
        let full = page.len() == 37;
        out.extend(page);
        if !full {
            break;
        }
    }
    out
}

fn is_open(state: &str) -> bool {
    CaseState::parse(state).is_some_and(|s| s.is_open())
}

#[tokio::test]
async fn case_lists_page_by_key_and_match_a_plain_filter() {
    each(|store, be| async move {
        store.load_synth(3_000, 5, &|_, _| {}).await.unwrap();
        let until = chrono::Utc::now() + chrono::Duration::days(20);
        store
            .load_synth_cases(2_500, 4, until, None, &|_, _| {})
            .await
            .unwrap();
        let plain = plain_cases(&store).await;
        assert_eq!(plain.len(), 2_500, "{be}");
        let now = chrono::Utc::now().timestamp_millis();
        // One area of each depth: the city, a district, a subdistrict, a
        // community, a zone, a grid (each the area of some case).
        let deepest = plain[0].1.clone();
        let ids: Vec<&str> = deepest.trim_matches('/').split('/').collect();
        let mut scopes = vec![Scope::Everything];
        for d in 1..=ids.len() {
            let path = format!("/{}/", ids[..d].join("/"));
            scopes.push(Scope::Subtree(OrgPath::parse(&path).unwrap()));
        }
        let units = store.units(&Scope::Everything).await.unwrap();
        let busy_unit = plain.iter().filter_map(|c| c.5).next().unwrap();
        let grid_id: i64 = ids.last().unwrap().parse().unwrap();
        let mid = plain[plain.len() / 2].7;
        let filters: Vec<(&str, CaseFilter)> = vec![
            ("none", CaseFilter::default()),
            (
                "state",
                CaseFilter {
                    state: Some(CaseState::Rated),
                    ..Default::default()
                },
            ),
            (
                "open",
                CaseFilter {
                    open: Some(true),
                    ..Default::default()
                },
            ),
            (
                "finished",
                CaseFilter {
                    open: Some(false),
                    ..Default::default()
                },
            ),
            (
                "overdue",
                CaseFilter {
                    overdue: true,
                    ..Default::default()
                },
            ),
            (
                "category",
                CaseFilter {
                    category: plain.iter().find_map(|c| c.4.clone()),
                    ..Default::default()
                },
            ),
            (
                "unit",
                CaseFilter {
                    unit_id: Some(busy_unit),
                    ..Default::default()
                },
            ),
            (
                "grid",
                CaseFilter {
                    grid_id: Some(grid_id),
                    ..Default::default()
                },
            ),
            (
                "window",
                CaseFilter {
                    created_from: Some(mid - 40 * 86_400_000),
                    created_to: Some(mid),
                    ..Default::default()
                },
            ),
            (
                "window+state",
                CaseFilter {
                    created_from: Some(mid - 90 * 86_400_000),
                    created_to: Some(mid),
                    state: Some(CaseState::Closed),
                    ..Default::default()
                },
            ),
        ];
        assert!(units.iter().any(|u| u.id == busy_unit));
        let mut nonempty = 0;
        for scope in &scopes {
            let (lo, hi) = scope.bounds();
            for (name, f) in &filters {
                let got = all_pages(&store, scope, f).await;
                let grid_path = format!("/{}/", ids.join("/"));
                let mut want: Vec<&Plain> = plain
                    .iter()
                    .filter(|c| c.1 >= lo && c.1 < hi)
                    .filter(|c| f.state.is_none_or(|s| c.2 == s.code()))
                    .filter(|c| f.open.is_none_or(|o| is_open(&c.2) == o))
                    .filter(|c| {
                        !f.overdue
                            || (is_open(&c.2) && (c.9.is_some() || c.8.is_some_and(|d| d < now)))
                    })
                    .filter(|c| {
                        f.category
                            .as_ref()
                            .is_none_or(|k| c.3.as_ref() == Some(k) || c.4.as_ref() == Some(k))
                    })
                    .filter(|c| f.unit_id.is_none_or(|u| c.5 == Some(u)))
                    .filter(|c| f.grid_id.is_none() || c.1.starts_with(&grid_path))
                    .filter(|c| f.created_from.is_none_or(|t| c.7 >= t))
                    .filter(|c| f.created_to.is_none_or(|t| c.7 < t))
                    .collect();
                if f.created_to.is_some() {
                    // A period's list is newest registered first.
                    want.sort_by_key(|c| std::cmp::Reverse((c.7, c.0)));
                }
                let got_ids: Vec<i64> = got.iter().map(|c| c.row.id).collect();
                let want_ids: Vec<i64> = want.iter().map(|c| c.0).collect();
                assert_eq!(got_ids, want_ids, "{be}: {name} in {lo}");
                // The total the queue shows counts the same cases.
                let (n, capped) = store.count_cases(scope, f, 100_000).await.unwrap();
                assert_eq!(
                    (n, capped),
                    (want_ids.len() as i64, false),
                    "{be}: {name} in {lo}"
                );
                nonempty += usize::from(!want_ids.is_empty());
            }
            // By deadline: the open cases with one, least time left first,
            // page by page.
            let due = CaseFilter {
                order: linli_store::cases::CaseOrder::DueFirst,
                limit: 40,
                ..Default::default()
            };
            let mut want: Vec<&Plain> = plain
                .iter()
                .filter(|c| c.1 >= lo && c.1 < hi && is_open(&c.2) && c.8.is_some())
                .collect();
            want.sort_by_key(|c| (c.8, c.0));
            let mut got: Vec<i64> = Vec::new();
            for page in 0.. {
                let rows = store
                    .cases(
                        scope,
                        &CaseFilter {
                            offset: page * 40,
                            ..due.clone()
                        },
                    )
                    .await
                    .unwrap();
                got.extend(rows.iter().map(|c| c.row.id));
                if rows.len() < 40 {
                    break;
                }
            }
            assert_eq!(
                got,
                want.iter().map(|c| c.0).collect::<Vec<_>>(),
                "{be}: due first in {lo}"
            );
        }
        // A total past the cap says so.
        let (n, capped) = store
            .count_cases(&Scope::Everything, &CaseFilter::default(), 100)
            .await
            .unwrap();
        assert_eq!((n, capped), (100, true), "{be}");
        assert!(nonempty > 40, "{be}: the filters find cases ({nonempty})");

        // A unit's staff see their unit's cases anywhere; another unit's
        // filter finds nothing.
        // A unit's queue by deadline, from its own index.
        let unit_due = store
            .cases(
                &Scope::Unit(busy_unit),
                &CaseFilter {
                    order: linli_store::cases::CaseOrder::DueFirst,
                    limit: 500,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut want: Vec<&Plain> = plain
            .iter()
            .filter(|c| c.5 == Some(busy_unit) && is_open(&c.2) && c.8.is_some())
            .collect();
        want.sort_by_key(|c| (c.8, c.0));
        assert_eq!(
            unit_due.iter().map(|c| c.row.id).collect::<Vec<_>>(),
            want.iter().take(500).map(|c| c.0).collect::<Vec<_>>(),
            "{be}: a unit's cases by deadline"
        );
        let unit_all = all_pages(&store, &Scope::Unit(busy_unit), &CaseFilter::default()).await;
        assert_eq!(
            unit_all.len(),
            plain.iter().filter(|c| c.5 == Some(busy_unit)).count(),
            "{be}"
        );
        let other = CaseFilter {
            unit_id: Some(busy_unit + 1),
            ..Default::default()
        };
        assert!(
            store
                .cases(&Scope::Unit(busy_unit), &other)
                .await
                .unwrap()
                .is_empty()
        );

        // Offset paging stays for old clients, bounded.
        let f = CaseFilter {
            limit: 10,
            offset: 20,
            ..Default::default()
        };
        let page = store.cases(&Scope::Everything, &f).await.unwrap();
        assert_eq!(
            page.iter().map(|c| c.row.id).collect::<Vec<_>>(),
            plain[20..30].iter().map(|c| c.0).collect::<Vec<_>>()
        );
        let deep = CaseFilter {
            offset: 10_001,
            ..Default::default()
        };
        match store.cases(&Scope::Everything, &deep).await {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "offset"),
            other => panic!("{be}: {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn people_lists_page_by_place_and_key() {
    each(|store, be| async move {
        store.load_synth(2_000, 8, &|_, _| {}).await.unwrap();
        let all: Vec<(i64, String)> = with_db!(&store.db, p => {
            sqlx::query_as("SELECT id, scope_path FROM person ORDER BY scope_path, id").fetch_all(p).await.unwrap()
        });
        let tagged: Vec<i64> = with_db!(&store.db, p => {
            sqlx::query_scalar("SELECT person_id FROM person_tag WHERE tag = 'elderly_alone'").fetch_all(p).await.unwrap()
        });
        assert!(!tagged.is_empty());
        let deep = all[all.len() / 3].1.clone();
        let ids: Vec<&str> = deep.trim_matches('/').split('/').collect();
        let mut scopes = vec![Scope::Everything];
        for d in [2, 3, ids.len()] {
            scopes.push(Scope::Subtree(OrgPath::parse(&format!("/{}/", ids[..d].join("/"))).unwrap()));
        }
        for scope in &scopes {
            let (lo, hi) = scope.bounds();
            for tag in [None, Some(Tag::ElderlyAlone)] {
                let mut f = PeopleFilter { tag, limit: 41, ..Default::default() };
                let mut got = Vec::new();
                loop {
                    let page = store.people(scope, &f).await.unwrap();
                    let full = page.len() == 41;
                    f.after_id = page.last().map(|p| p.id);
                    got.extend(page.into_iter().map(|p| p.id));
                    if !full {
                        break;
                    }
                }
                let want: Vec<i64> = all
                    .iter()
                    .filter(|(_, p)| *p >= lo && *p < hi)
                    .filter(|(id, _)| tag.is_none() || tagged.contains(id))
                    .map(|(id, _)| *id)
                    .collect();
                assert!(!want.is_empty(), "{be} {lo}");
                assert_eq!(got, want, "{be}: people of {lo} tag {tag:?}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn community_and_grid_figures_come_from_the_fine_rollup_and_agree_with_the_cases() {
    each(|store, be| async move {
        store.load_synth(3_000, 5, &|_, _| {}).await.unwrap();
        let until = chrono::Utc::now() - chrono::Duration::days(3);
        store
            .load_synth_cases(2_000, 9, until, None, &|_, _| {})
            .await
            .unwrap();
        let plain = plain_cases(&store).await;
        let deepest = plain[0].1.clone();
        let ids: Vec<&str> = deepest.trim_matches('/').split('/').collect();
        assert!(ids.len() > 3, "{be}: cases lie below a subdistrict");
        let now = chrono::Utc::now().timestamp_millis();
        let (from, to) = (now - 400 * 86_400_000, now);
        // Every depth, after generation, after a fold of live changes, and
        // after a rebuild.
        for round in ["generated", "rebuilt"] {
            if round == "rebuilt" {
                assert!(store.rebuild_rollup().await.unwrap() > 0);
            }
            for d in 1..=ids.len() {
                let scope = Scope::Subtree(OrgPath::parse(&format!("/{}/", ids[..d].join("/"))).unwrap());
                let (_, total) = store.rates(&scope, from, to).await.unwrap();
                let raw = store.rate_counts_of_cases(&scope, from, to, now.min(to)).await.unwrap();
                let sum = |f: fn(&linli_store::rates::RateCounts) -> i64| raw.iter().map(f).sum::<i64>();
                assert!(total.counts.requests > 0, "{be} depth {d}");
                assert_eq!(total.counts.requests, sum(|c| c.requests), "{be} {round} depth {d}");
                assert_eq!(total.counts.closed, sum(|c| c.closed), "{be} {round} depth {d}");
                assert_eq!(total.counts.satisfied, sum(|c| c.satisfied), "{be} {round} depth {d}");
                assert_eq!(total.counts.due, sum(|c| c.due), "{be} {round} depth {d}");
                let mix: i64 = store.category_mix(&scope, from, to).await.unwrap().iter().map(|m| m.cases).sum();
                let mix_ref: i64 = store.category_mix_of_cases(&scope, from, to).await.unwrap().iter().map(|m| m.cases).sum();
                assert_eq!(mix, mix_ref, "{be} {round} depth {d}");
                // The trend: the same requests month by month.
                let trend = store
                    .monthly_trend(&scope, linli_core::period::month_of(from), linli_core::period::month_of(to) + 1)
                    .await
                    .unwrap();
                let (lo, hi) = scope.bounds();
                let in_area = plain.iter().filter(|c| c.1 >= lo && c.1 < hi && c.2 != "merged").count() as i64;
                assert_eq!(trend.iter().map(|t| t.requests).sum::<i64>(), in_area, "{be} {round} depth {d}");
            }
        }
        // The fine rollup holds rows only for areas below a subdistrict.
        let areas: Vec<String> = with_db!(&store.db, p => {
            sqlx::query_scalar("SELECT DISTINCT area FROM case_rollup_fine").fetch_all(p).await.unwrap()
        });
        assert!(!areas.is_empty() && areas.iter().all(|a| linli_store::rates::is_fine_area(a)), "{be}");
    })
    .await;
}
