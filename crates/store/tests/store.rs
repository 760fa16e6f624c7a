//! Storage tests. Every test runs on SQLite and, when LINLI_TEST_PG_URL is
//! set (as .ci/run does), on PostgreSQL in a schema of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use linli_core::org::{OrgKind, OrgPath};
use linli_core::registry::Tag;
use linli_store::import::{RowError, TableFormat, read_csv, read_xlsx};
use linli_store::registry::PeopleFilter;
use linli_store::{Scope, Store, StoreError, migrate};

use linli_store::testkit::each_backend as each;

/// (id_enc, phone_enc) of one person row.
type SealedPair = (Option<Vec<u8>>, Option<Vec<u8>>);

const GRIDS: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"code":"320104001001001","name":"一网格","community_name":"夫子庙社区","subdistrict_name":"夫子庙街道","district_name":"秦淮区","city_name":"南京市"},
  "geometry":{"type":"Polygon","coordinates":[[[118.78,32.02],[118.79,32.02],[118.79,32.03],[118.78,32.03],[118.78,32.02]]]}},
 {"type":"Feature","properties":{"code":"320104001001002","name":"二网格","zone":"东片区"},
  "geometry":{"type":"Polygon","coordinates":[[[118.79,32.02],[118.80,32.02],[118.80,32.03],[118.79,32.03],[118.79,32.02]]]}},
 {"type":"Feature","properties":{"code":"320104001002001","name":"三网格","community_name":"乌衣巷社区"},
  "geometry":{"type":"Polygon","coordinates":[[[118.80,32.02],[118.81,32.02],[118.81,32.03],[118.80,32.03],[118.80,32.02]]]}}
]}"#;

const REGISTRY_CSV: &str = "\u{feff}网格编码,小区,楼栋,单元,房号,建筑面积,户号,姓名,性别,出生日期,身份证号,手机号,与房屋关系,标签
320104001001001,桃叶渡小区,1栋,1单元,101,89.5,1,王秀英,,,11010519491231002X,13800138000,业主,独居老人、党员
320104001001001,桃叶渡小区,1栋,1单元,102,76,1,李强,男,1985-03-01,,139 1234 5678,租户,流动人口
320104001001001,桃叶渡小区,1栋,1单元,102,76,1,李小明,,,,,居住,
320104001001001,桃叶渡小区,2栋,,201,120,,,,,,,,
320104001002001,乌衣巷院落,1栋,,1,60,1,赵敏,女,,,,业主,困难家庭
";

async fn setup_registry(store: &Store) {
    let r = store
        .import_grids(&Scope::Everything, "test", GRIDS)
        .await
        .unwrap();
    assert!(r.committed, "{:?}", r.errors);
    let t = read_csv(REGISTRY_CSV.as_bytes()).unwrap();
    let r = store
        .import_registry(&Scope::Everything, "test", &t, &|_, _| {})
        .await
        .unwrap();
    assert!(r.committed, "{:?}", r.errors);
}

async fn community_scope(store: &Store, code: &str) -> Scope {
    store
        .org_by_code(&Scope::Everything, code)
        .await
        .unwrap()
        .scope()
        .unwrap()
}

#[tokio::test]
async fn migrations_are_idempotent() {
    each(|store, _| async move {
        assert_eq!(migrate::run(&store.db).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn org_tree_rules_and_subtree_scope() {
    each(|store, be| async move {
        let all = Scope::Everything;
        let city = store
            .create_org(&all, None, OrgKind::City, "510100", "成都市", None)
            .await
            .unwrap();
        let d = store
            .create_org(
                &all,
                Some(city.id),
                OrgKind::District,
                "510104",
                "锦江区",
                None,
            )
            .await
            .unwrap();
        let s = store
            .create_org(
                &all,
                Some(d.id),
                OrgKind::Subdistrict,
                "510104001",
                "春熙路街道",
                None,
            )
            .await
            .unwrap();
        let c1 = store
            .create_org(
                &all,
                Some(s.id),
                OrgKind::Community,
                "510104001001",
                "A社区",
                None,
            )
            .await
            .unwrap();
        let c2 = store
            .create_org(
                &all,
                Some(s.id),
                OrgKind::Community,
                "510104001002",
                "B社区",
                None,
            )
            .await
            .unwrap();
        let g1 = store
            .create_org(
                &all,
                Some(c1.id),
                OrgKind::Grid,
                "510104001001001",
                "A1",
                None,
            )
            .await
            .unwrap();
        let g2 = store
            .create_org(
                &all,
                Some(c2.id),
                OrgKind::Grid,
                "510104001002001",
                "B1",
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            g1.path,
            format!("/{}/{}/{}/{}/{}/", city.id, d.id, s.id, c1.id, g1.id),
            "{be}"
        );

        // A grid cannot hang from a subdistrict; codes are unique; grid codes are checked.
        let e = store
            .create_org(
                &all,
                Some(s.id),
                OrgKind::Grid,
                "510104001009001",
                "x",
                None,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreError::Invalid { ref field, .. } if field == "parent_id"),
            "{e}"
        );
        let e = store
            .create_org(
                &all,
                Some(c1.id),
                OrgKind::Grid,
                "510104001001001",
                "x",
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
        let e = store
            .create_org(&all, Some(c1.id), OrgKind::Grid, "5101", "x", None)
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreError::Invalid { ref field, .. } if field == "code"),
            "{e}"
        );

        // Community A sees its grid and not B's, by list, by id and by code.
        let a = c1.scope().unwrap();
        let grids = store.org_units(&a, Some(OrgKind::Grid)).await.unwrap();
        assert_eq!(grids.iter().map(|g| g.id).collect::<Vec<_>>(), vec![g1.id]);
        assert!(matches!(
            store.org_unit(&a, g2.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(store.org_by_code(&a, "510104001002001").await.is_err());
        assert!(
            store.org_children(&a, s.id).await.is_err(),
            "the parent is outside the scope"
        );
        // Nor can it create under B, or a root.
        assert!(
            store
                .create_org(&a, Some(c2.id), OrgKind::Grid, "510104001002002", "x", None)
                .await
                .is_err()
        );
        assert!(
            store
                .create_org(&a, None, OrgKind::City, "520100", "x", None)
                .await
                .is_err()
        );
        let anc = store.org_ancestors(&a, g1.id).await.unwrap();
        assert_eq!(
            anc.iter().map(|u| u.code.as_str()).collect::<Vec<_>>(),
            vec!["510100", "510104", "510104001", "510104001001"]
        );
        // Scope from a path that matches no node sees nothing.
        let nobody = Scope::Subtree(OrgPath::parse("/999999/").unwrap());
        assert!(store.org_units(&nobody, None).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn grid_import_builds_the_tree_and_places_points() {
    each(|store, be| async move {
        let r = store
            .import_grids(&Scope::Everything, "test", GRIDS)
            .await
            .unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        assert_eq!(r.created["grids"], 3);
        // city, district, subdistrict, 2 communities, 1 zone
        assert_eq!(r.created["org_units"], 6);
        let g2 = store
            .org_by_code(&Scope::Everything, "320104001001002")
            .await
            .unwrap();
        let zone = store
            .org_unit(&Scope::Everything, g2.parent_id.unwrap())
            .await
            .unwrap();
        assert_eq!((zone.kind.as_str(), zone.name.as_str()), ("zone", "东片区"));
        let c = store
            .org_by_code(&Scope::Everything, "320104001001")
            .await
            .unwrap();
        assert_eq!(c.name, "夫子庙社区");

        let hit = store
            .locate_grid(&Scope::Everything, 118.795, 32.025)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hit.code, "320104001001002");
        assert!(
            store
                .locate_grid(&Scope::Everything, 118.70, 32.025)
                .await
                .unwrap()
                .is_none()
        );
        // A point in another community's grid is not revealed to community A.
        let a = community_scope(&store, "320104001001").await;
        assert!(
            store
                .locate_grid(&a, 118.805, 32.025)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.locate_grid(&a, 500.0, 0.0).await.is_err());

        // Re-import updates in place.
        let r = store
            .import_grids(&Scope::Everything, "test", GRIDS)
            .await
            .unwrap();
        assert_eq!(r.updated["grids"], 3);
        assert!(!r.created.contains_key("grids"));

        // A file with one bad feature writes nothing.
        let before = store
            .org_units(&Scope::Everything, None)
            .await
            .unwrap()
            .len();
        let bad = GRIDS
            .replace("320104001002001", "320104001002000")
            .replace("320104001001002", "320104009009009");
        let r = store
            .import_grids(&Scope::Everything, "test", &bad)
            .await
            .unwrap();
        assert!(!r.committed);
        assert_eq!(r.errors.len(), 1);
        assert_eq!((r.errors[0].row, r.errors[0].field.as_str()), (3, "code"));
        assert_eq!(
            store
                .org_units(&Scope::Everything, None)
                .await
                .unwrap()
                .len(),
            before
        );
        // A community-scoped import may not create another community's grid.
        let r = store
            .import_grids(
                &a,
                "test",
                &bad.replace("320104001002000", "320104001002003"),
            )
            .await
            .unwrap();
        assert!(!r.committed);
        assert!(
            r.errors
                .iter()
                .any(|e| e.message.contains("not in your area")),
            "{:?}",
            r.errors
        );
    })
    .await;
}

#[tokio::test]
async fn registry_import_is_all_or_nothing_and_idempotent() {
    each(|store, be| async move {
        store.import_grids(&Scope::Everything, "test", GRIDS).await.unwrap();
        let t = read_csv(REGISTRY_CSV.as_bytes()).unwrap();
        let r = store.import_registry(&Scope::Everything, "test", &t, &|_, _| {}).await.unwrap();
        assert!(r.committed, "{be}: {:?}", r.errors);
        assert_eq!(r.created["people"], 4);
        assert_eq!(r.created["dwellings"], 4);
        assert_eq!(r.created["compounds"], 2);
        assert_eq!(r.created["households"], 3);
        let stats = store.scope_stats(&Scope::Everything).await.unwrap();
        assert_eq!((stats.grids, stats.compounds, stats.dwellings, stats.households, stats.people), (3, 2, 4, 3, 4));

        // The same file again changes nothing but updates.
        let r = store.import_registry(&Scope::Everything, "test", &t, &|_, _| {}).await.unwrap();
        assert!(r.committed);
        assert!(!r.created.contains_key("people"), "{:?}", r.created);
        assert_eq!(r.updated["people"], 4);
        let again = store.scope_stats(&Scope::Everything).await.unwrap();
        assert_eq!(again.people, 4);

        // Derived fields, tags and masking.
        let wang = store.people(&Scope::Everything, &PeopleFilter { name_contains: Some("秀英".into()), ..Default::default() }).await.unwrap();
        assert_eq!(wang.len(), 1);
        let w = &wang[0];
        assert_eq!(w.gender.as_deref(), Some("female"));
        assert_eq!(w.birth_date.as_deref(), Some("1949-12-31"));
        assert_eq!(w.id_masked.as_deref(), Some("1101**********002X"));
        assert_eq!(w.phone_masked.as_deref(), Some("138****8000"));
        assert_eq!(w.tags, "elderly_alone,party_member");
        assert_eq!(w.floor_area, Some(89.5));
        let alone = store.people(&Scope::Everything, &PeopleFilter { tag: Some(Tag::ElderlyAlone), ..Default::default() }).await.unwrap();
        assert_eq!(alone.len(), 1);
        // LIKE wildcards in a search are literal.
        let none = store.people(&Scope::Everything, &PeopleFilter { name_contains: Some("%".into()), ..Default::default() }).await.unwrap();
        assert!(none.is_empty());

        // A bad file: every bad field is reported by row and column, nothing is written.
        let bad = format!(
            "{}320104001001001,桃叶渡小区,3栋,1单元,301,abc,1,张三,,,110105194912310021,12345,房东,富豪\n999999999999999,x,1栋,,1,,,,,,,,,\n320104001001001,桃叶渡小区,3栋,1单元,302,80,1,李四,,,11010519491231002X,,,\n",
            REGISTRY_CSV
        );
        let t = read_csv(bad.as_bytes()).unwrap();
        let r = store.import_registry(&Scope::Everything, "test", &t, &|_, _| {}).await.unwrap();
        assert!(!r.committed);
        let has = |row: usize, field: &str| r.errors.iter().any(|e: &RowError| e.row == row && e.field == field);
        assert!(has(7, "floor_area") && has(7, "id_number") && has(7, "phone") && has(7, "relation") && has(7, "tags"), "{:?}", r.errors);
        assert!(has(8, "grid_code"), "{:?}", r.errors);
        let dup = r.errors.iter().find(|e| e.row == 9 && e.field == "id_number").unwrap();
        assert!(dup.message.contains("row 2"), "{dup:?}");
        assert_eq!(store.scope_stats(&Scope::Everything).await.unwrap().people, 4);
        assert_eq!(store.scope_stats(&Scope::Everything).await.unwrap().dwellings, 4);

        // A missing required column is reported against the header row.
        let t = read_csv("网格编码,楼栋,房号\n320104001001001,1栋,1\n".as_bytes()).unwrap();
        let r = store.import_registry(&Scope::Everything, "test", &t, &|_, _| {}).await.unwrap();
        assert_eq!(r.errors, vec![RowError { row: 1, field: "compound".into(), message: "required column 'compound' (小区) is missing".into() }]);
    })
    .await;
}

#[tokio::test]
async fn personal_data_is_sealed_masked_and_audited() {
    each(|store, be| async move {
        setup_registry(&store).await;
        // Nothing in the person table holds the ID number or phone in clear.
        let rows: Vec<SealedPair> = linli_store::with_db!(&store.db, p => {
            sqlx::query_as("SELECT id_enc, phone_enc FROM person").fetch_all(p).await.unwrap()
        });
        for (id, phone) in &rows {
            for blob in [id, phone].into_iter().flatten() {
                let text = String::from_utf8_lossy(blob);
                assert!(!text.contains("11010519491231002X") && !text.contains("13800138000"), "{be}");
            }
        }
        let found = store.find_by_id_number(&Scope::Everything, "11010519491231002x").await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "王秀英");
        let by_phone = store.find_by_phone(&Scope::Everything, "+86 139-1234-5678").await.unwrap();
        assert_eq!(by_phone[0].name, "李强");

        // A full view needs a reason and leaves an audit entry.
        let pid = found[0].id;
        assert!(store.person_unmasked(&Scope::Everything, pid, "worker1", " ").await.is_err());
        let full = store.person_unmasked(&Scope::Everything, pid, "worker1", "上门核实").await.unwrap();
        assert_eq!(full.id_number.as_deref(), Some("11010519491231002X"));
        assert_eq!(full.phone.as_deref(), Some("13800138000"));
        let log = store.audit_entries(10).await.unwrap();
        assert_eq!(log[0].id, full.audit_id);
        assert_eq!((log[0].actor.as_str(), log[0].action.as_str(), log[0].object.clone()), ("worker1", "person.view_unmasked", format!("person:{pid}")));

        // The chain verifies, and a tampered row is found.
        let v = store.audit_verify().await.unwrap();
        assert!(v.first_broken.is_none(), "{v:?}");
        assert!(v.entries >= 3);
        linli_store::with_db!(&store.db, p => {
            sqlx::query("UPDATE audit_log SET detail = 'nothing to see' WHERE seq = 2").execute(p).await.unwrap();
        });
        let v = store.audit_verify().await.unwrap();
        assert_eq!(v.first_broken.unwrap().id, 2, "{be}");
    })
    .await;
}

#[tokio::test]
async fn one_community_sees_nothing_of_another() {
    each(|store, be| async move {
        setup_registry(&store).await;
        let a = community_scope(&store, "320104001001").await;
        let b = community_scope(&store, "320104001002").await;
        let a_people = store.people(&a, &PeopleFilter::default()).await.unwrap();
        assert_eq!(a_people.len(), 3, "{be}");
        let b_people = store.people(&b, &PeopleFilter::default()).await.unwrap();
        assert_eq!(b_people.len(), 1);
        let zhao = b_people[0].id;
        assert!(matches!(
            store.person(&a, zhao).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(store.person_unmasked(&a, zhao, "x", "probe").await.is_err());
        assert!(
            store
                .find_by_id_number(&b, "11010519491231002X")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.compounds(&a, None).await.unwrap().len(), 1);
        let (csv, n) = store
            .export_registry(&a, TableFormat::Csv, None)
            .await
            .unwrap();
        assert_eq!(n, 4, "3 people and one empty dwelling");
        assert!(!String::from_utf8_lossy(&csv).contains("赵敏"));
        assert_eq!(store.scope_stats(&b).await.unwrap().people, 1);
        // Import into B's grid from A's scope is refused row by row.
        let t = read_csv(REGISTRY_CSV.as_bytes()).unwrap();
        let r = store
            .import_registry(&a, "x", &t, &|_, _| {})
            .await
            .unwrap();
        assert!(!r.committed);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(
            (r.errors[0].row, r.errors[0].field.as_str()),
            (6, "grid_code")
        );
    })
    .await;
}

#[tokio::test]
async fn export_round_trips_through_excel() {
    each(|store, be| async move {
        setup_registry(&store).await;
        let (masked, _) = store.export_registry(&Scope::Everything, TableFormat::Csv, None).await.unwrap();
        let masked = String::from_utf8(masked).unwrap();
        assert!(masked.contains("1101**********002X") && !masked.contains("11010519491231002X"), "{be}");
        assert!(store.export_registry(&Scope::Everything, TableFormat::Xlsx, Some(("admin", ""))).await.is_err());
        let (xlsx, n) = store.export_registry(&Scope::Everything, TableFormat::Xlsx, Some(("admin", "年度核对"))).await.unwrap();
        assert_eq!(n, 5);
        let t = read_xlsx(&xlsx).unwrap();
        assert_eq!(t.rows.len(), 5);
        assert_eq!(t.headers[0], "网格编码");
        let wang = t.rows.iter().find(|(_, c)| c[7] == "王秀英").unwrap();
        assert_eq!(wang.1[10], "11010519491231002X");
        assert_eq!(wang.1[13], "独居老人、党员");
        assert!(store.audit_entries(5).await.unwrap().iter().any(|e| e.action == "registry.export_unmasked"));
        // Importing the export back only updates.
        let r = store.import_registry(&Scope::Everything, "admin", &t, &|_, _| {}).await.unwrap();
        assert!(r.committed, "{:?}", r.errors);
        assert!(r.created.is_empty(), "{:?}", r.created);
        assert_eq!(store.scope_stats(&Scope::Everything).await.unwrap().people, 4);

        // Compound ledger: export, then import with a point placed in its grid.
        let (ledger, n) = store.export_compounds(&Scope::Everything, TableFormat::Csv).await.unwrap();
        assert_eq!(n, 2);
        assert!(String::from_utf8(ledger).unwrap().contains("桃叶渡小区"));
        let t = read_csv("小区,管理模式,物业公司,物业公司信用代码,经度,纬度,存在问题\n新建小区,物业管理,金陵物业,91350100M000100Y43,118.805,32.025,停车难\n无主小区,无物业,,,118.785,32.025,\n".as_bytes()).unwrap();
        let r = store.import_compounds(&Scope::Everything, "admin", &t).await.unwrap();
        assert!(r.committed, "{:?}", r.errors);
        let c = store.compounds(&Scope::Everything, None).await.unwrap();
        let new = c.iter().find(|c| c.name == "新建小区").unwrap();
        assert_eq!(new.grid_code, "320104001002001");
        assert_eq!(new.known_problems, "停车难");
        assert_eq!(new.property_company_code.as_deref(), Some("91350100M000100Y43"));
        let t = read_csv("小区,管理模式,物业公司,物业公司信用代码,经度,纬度\n坏小区,物业管理,,91350100M000100Y44,200,32\n".as_bytes()).unwrap();
        let r = store.import_compounds(&Scope::Everything, "admin", &t).await.unwrap();
        assert!(!r.committed);
        let fields: Vec<_> = r.errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"lon") && fields.contains(&"property_company") && fields.contains(&"property_company_code") && fields.contains(&"grid_code"), "{fields:?}");
    })
    .await;
}

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
            .assign_post(&Scope::Everything, grids[0].id, staff, "兼职网格员")
            .await
            .unwrap();
        assert!(matches!(
            store
                .assign_post(&Scope::Everything, grids[0].id, staff, "兼职网格员")
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

mod cases {
    use super::*;
    use chrono::{DateTime, FixedOffset, TimeZone, Utc};
    use linli_core::case::{Action, Rating};
    use linli_store::cases::{CaseFilter, NewRequest};

    fn bj(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn req(category: Option<&str>, lon: f64, lat: f64) -> NewRequest {
        NewRequest {
            channel: "self_report".into(),
            category: category.map(String::from),
            description: "3号楼电梯停了两天，老人下不了楼".into(),
            lon: Some(lon),
            lat: Some(lat),
            reporter_name: Some("王秀英".into()),
            reporter_phone: Some("13800138000".into()),
            ..Default::default()
        }
    }

    fn text(s: &str) -> String {
        s.to_string()
    }

    #[tokio::test]
    async fn the_closed_loop_with_working_day_deadlines() {
        each(|store, be| async move {
            setup_registry(&store).await;
            let all = Scope::Everything;
            let community = store.org_by_code(&all, "320104001001").await.unwrap();
            let property = store.create_unit(&all, community.id, "金陵物业", "property", Some("http://127.0.0.1:9/hook")).await.unwrap();
            // Thu 12 Feb 2026, 10:00 Beijing, just before the Spring Festival.
            let t0 = bj(2026, 2, 12, 10, 0);
            let c = store.intake_at(&all, "resident:1", &req(Some("1202"), 118.785, 32.025), t0).await.unwrap();
            assert_eq!(c.row.state, "classified", "{be}");
            assert_eq!(c.row.grid_name.as_deref(), Some("一网格"));
            // What intake answers is what is stored (a read adds the grid's staff).
            let mut stored = store.case(&all, c.row.id).await.unwrap();
            stored.grid_staff.clear();
            assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::to_value(&stored).unwrap(), "{be}");
            assert!(c.row.code.starts_with("GD20260212"), "{}", c.row.code);
            assert_eq!(c.row.reporter_phone_masked.as_deref(), Some("138****8000"));
            // Lift breakdown: respond within 1 working hour.
            assert_eq!(c.row.response_due, Some(bj(2026, 2, 12, 11, 0).timestamp_millis()));
            assert!(c.allowed.contains(&"open"));

            let mut v = c.row.version;
            let id = c.row.id;
            let step = |a: Action, v: i64, t: DateTime<Utc>| {
                let store = store.clone();
                async move { store.act_at(&Scope::Everything, "worker:1", id, v, &a, t).await }
            };
            let c = step(Action::Open, v, t0).await.unwrap();
            // 8 working hours from Thu 10:00: Thu 10-12, 13-18 (7 h) and Fri 09:00-10:00.
            assert_eq!(c.row.due_at, Some(bj(2026, 2, 13, 10, 0).timestamp_millis()));
            v = c.row.version;
            // Dispatch by the rules: lifts go to the property company of the community.
            let c = step(Action::Dispatch { unit: 0 }, v, t0).await.unwrap();
            assert_eq!((c.row.state.as_str(), c.row.unit_id), ("dispatched", Some(property.id)));
            v = c.row.version;
            // The same version again loses: exactly one of two wins.
            let e = step(Action::Accept, v - 1, t0).await.unwrap_err();
            assert!(matches!(e, StoreError::Conflict(_)), "{e}");
            let c = step(Action::Accept, v, bj(2026, 2, 12, 10, 30)).await.unwrap();
            v = c.row.version;
            // An illegal step is refused with the state named.
            let e = step(Action::Rate { rating: Rating::Satisfied, comment: text("") }, v, t0).await.unwrap_err();
            assert!(e.to_string().contains("处置中"), "{e}");
            // An extension of 2 working days from Fri 13 Feb 10:00 skips the holiday:
            // Sat 14 (make-up day) and Tue 24 Feb.
            let c = step(Action::RequestExtension { working_days: 2, reason: text("需更换主板") }, v, t0).await.unwrap();
            let c = step(Action::DecideExtension { approve: true, note: text("同意") }, c.row.version, t0).await.unwrap();
            assert_eq!(c.row.due_at, Some(bj(2026, 2, 24, 18, 0).timestamp_millis()));
            // Photos: uploaded to the case (images only), then named in the report back.
            let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-rest-of-image";
            let e = store.add_photo(&all, "unit:1", id, b"<script>alert(1)</script>").await.unwrap_err();
            assert!(matches!(&e, StoreError::Invalid { field, .. } if field == "photo"), "{e}");
            let photo = store.add_photo(&all, "unit:1", id, png).await.unwrap();
            assert_eq!(store.photo(&all, photo.id).await.unwrap(), ("image/png".to_string(), png.to_vec()));
            let other = community_scope(&store, "320104001002").await;
            assert!(matches!(store.photo(&other, photo.id).await, Err(StoreError::NotFound(_))), "{be}");
            let e = step(Action::ReportBack { text: text("已更换主板"), photos: vec![text("p1.jpg")] }, c.row.version, t0).await.unwrap_err();
            assert!(matches!(&e, StoreError::Invalid { field, .. } if field == "photos"), "{e}");
            let c = step(Action::ReportBack { text: text("已更换主板"), photos: vec![photo.url()] }, c.row.version, t0).await.unwrap();
            let c = step(Action::Verify { passed: false, note: text("仍有异响") }, c.row.version, t0).await.unwrap();
            assert_eq!((c.row.state.as_str(), c.row.rework_count), ("handling", 1));
            let c = step(Action::ReportBack { text: text("已调试"), photos: vec![] }, c.row.version, t0).await.unwrap();
            let c = step(Action::Verify { passed: true, note: text("") }, c.row.version, bj(2026, 2, 24, 9, 0)).await.unwrap();
            assert_eq!(c.row.state, "closed");
            assert_eq!(c.row.closed_at, Some(bj(2026, 2, 24, 9, 0).timestamp_millis()));
            let c = step(Action::Rate { rating: Rating::BasicallySatisfied, comment: text("回访：基本满意") }, c.row.version, t0).await.unwrap();
            assert_eq!((c.row.state.as_str(), c.row.rating.as_deref()), ("rated", Some("basically_satisfied")));
            assert_eq!(c.allowed, vec!["reopen"]);

            // The whole timeline, with who and why.
            let tl = store.timeline(&all, id).await.unwrap();
            let actions: Vec<&str> = tl.iter().map(|e| e.action.as_str()).collect();
            assert_eq!(actions, vec!["register", "classify", "open", "dispatch", "accept", "request_extension", "decide_extension",
                "report_back", "verify", "report_back", "verify", "rate"]);
            assert_eq!(tl[8].note, "仍有异响");
            assert!(store.audit_entries(50).await.unwrap().iter().any(|e| e.action == "case.verify" && e.object == format!("case:{id}")));
            // The dispatch was announced to the unit's webhook through the outbox.
            let outbox: i64 = linli_store::with_db!(&store.db, p => {
                sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE topic = 'case.dispatched'").fetch_one(p).await.unwrap()
            });
            assert_eq!(outbox, 1);

            // Rates: one request, responded in time, resolved, rated basically satisfied, closed on time, reworked, extended.
            let (by_unit, total) = store.rates(&all, bj(2026, 2, 1, 0, 0).timestamp_millis(), bj(2026, 3, 1, 0, 0).timestamp_millis()).await.unwrap();
            assert_eq!(by_unit.len(), 1);
            assert_eq!(by_unit[0].unit_name.as_deref(), Some("金陵物业"));
            assert_eq!(total.response_rate, Some(1.0));
            assert_eq!(total.satisfaction_rate, Some(1.0));
            assert_eq!(total.on_time_rate, Some(1.0));
            assert_eq!(total.rework_rate, Some(1.0));
            assert_eq!(total.extension_rate, Some(1.0));
        })
        .await;
    }

    /// A random walk of many cases through the loop, across months: the
    /// rates read from the rollup (pending deltas, then folded, then
    /// rebuilt) equal the rates counted from the cases themselves.
    #[tokio::test]
    async fn rates_rollup_agrees_with_the_cases() {
        each(|store, be| async move {
            use linli_core::rng::SplitMix64;
            use linli_store::rates::RateCounts;
            setup_registry(&store).await;
            let all = Scope::Everything;
            let community = store.org_by_code(&all, "320104001001").await.unwrap();
            let property = store
                .create_unit(&all, community.id, "金陵物业", "property", None)
                .await
                .unwrap();
            let office = store
                .create_unit(&all, community.id, "夫子庙社区居委会", "community", None)
                .await
                .unwrap();
            let mut rng = SplitMix64::new(7);
            let mut ids = Vec::new();
            for i in 0..40u32 {
                let t = bj(2026, 1 + (i % 4), 1 + (i * 7) % 28, 9 + i % 9, 0)
                    - chrono::Duration::minutes((i % 3) as i64 * 30);
                let cat = ["1202", "1202", "1101"][i as usize % 3];
                let c = store
                    .intake_at(
                        &all,
                        "resident:1",
                        &req((i % 9 != 0).then_some(cat), 118.785, 32.025),
                        t,
                    )
                    .await
                    .unwrap();
                let mut v = c.row.version;
                let mut at = t;
                for _ in 0..14 {
                    let view = store.case(&all, c.row.id).await.unwrap();
                    if view.allowed.is_empty() {
                        break;
                    }
                    let mut kind = view.allowed[rng.index(view.allowed.len())];
                    // Mostly forward along the loop, so that many cases close.
                    let forward = [
                        "open",
                        "dispatch",
                        "accept",
                        "report_back",
                        "verify",
                        "rate",
                    ];
                    if rng.below(3) != 0
                        && let Some(f) = forward.iter().find(|f| view.allowed.contains(f))
                    {
                        kind = f;
                    }
                    if i % 6 == 1 && view.allowed.contains(&"refuse") {
                        kind = "refuse";
                    }
                    let action = match kind {
                        "classify" => Action::Classify {
                            category: "1202".into(),
                        },
                        "answer_on_spot" => Action::AnswerOnSpot {
                            answer: text("已解答"),
                        },
                        "refuse" => Action::Refuse {
                            reason: text("不属于受理范围"),
                        },
                        "open" => Action::Open,
                        "dispatch" => Action::Dispatch {
                            unit: if rng.below(2) == 0 {
                                property.id
                            } else {
                                office.id
                            },
                        },
                        "accept" => Action::Accept,
                        "send_back" => Action::SendBack {
                            reason: text("非本单位职责"),
                        },
                        "report_back" => Action::ReportBack {
                            text: text("已处理"),
                            photos: vec![],
                        },
                        "verify" => Action::Verify {
                            passed: rng.below(4) != 0,
                            note: text(""),
                        },
                        "rate" => Action::Rate {
                            rating: [
                                Rating::Satisfied,
                                Rating::BasicallySatisfied,
                                Rating::Unsatisfied,
                            ][rng.index(3)],
                            comment: text(""),
                        },
                        "reopen" => Action::Reopen {
                            reason: text("又坏了"),
                        },
                        // Rarely: a merged duplicate counts nowhere.
                        "merge" => match ids.first() {
                            Some(p) if rng.below(8) == 0 => Action::Merge { parent: *p },
                            _ => continue,
                        },
                        "escalate" => Action::Escalate {
                            reason: text("需要街道协调"),
                        },
                        "request_extension" => Action::RequestExtension {
                            working_days: 2,
                            reason: text("等配件"),
                        },
                        "decide_extension" => Action::DecideExtension {
                            approve: rng.below(2) == 0,
                            note: text(""),
                        },
                        "supervise" => Action::Supervise {
                            note: text("请加快"),
                        },
                        other => panic!("unexpected action {other}"),
                    };
                    at += chrono::Duration::hours(rng.range(1, 30) as i64);
                    if let Ok(c) = store
                        .act_at(&all, "worker:1", c.row.id, v, &action, at)
                        .await
                    {
                        v = c.row.version;
                        // Most rated and refused cases stay so; some are reopened.
                        if matches!(kind, "rate" | "refuse") && rng.below(4) != 0 {
                            break;
                        }
                    }
                }
                ids.push(c.row.id);
            }
            let norm = |rows: Vec<RateCounts>| {
                let mut m = std::collections::BTreeMap::new();
                for mut r in rows {
                    r.unit_id = r.unit_id.filter(|u| *u != 0);
                    m.entry(r.unit_id)
                        .or_insert_with(|| RateCounts {
                            unit_id: r.unit_id,
                            ..Default::default()
                        })
                        .add(&r, 1);
                }
                m.into_values()
                    .filter(|c| c.requests != 0)
                    .collect::<Vec<_>>()
            };
            let subdistrict = community_scope(&store, "320104001").await;
            let periods = [
                (bj(2026, 1, 1, 0, 0), bj(2027, 1, 1, 0, 0)),
                (bj(2026, 1, 15, 0, 0), bj(2026, 3, 10, 12, 0)),
                (bj(2026, 2, 1, 0, 0), bj(2026, 3, 1, 0, 0)),
            ];
            for round in ["pending deltas", "folded", "rebuilt"] {
                match round {
                    "folded" => assert!(store.fold_rollup().await.unwrap() > 0, "{be}"),
                    "rebuilt" => assert!(store.rebuild_rollup().await.unwrap() > 0, "{be}"),
                    _ => {}
                }
                for scope in [&all, &subdistrict] {
                    for (from, to) in periods {
                        let (from, to) = (from.timestamp_millis(), to.timestamp_millis());
                        let now = chrono::Utc::now().timestamp_millis().min(to);
                        let (by_unit, total) = store.rates(scope, from, to).await.unwrap();
                        let raw = norm(
                            store
                                .rate_counts_of_cases(scope, from, to, now)
                                .await
                                .unwrap(),
                        );
                        let got: Vec<RateCounts> = by_unit.into_iter().map(|r| r.counts).collect();
                        assert_eq!(got, raw, "{be} {round} {scope:?} {from}..{to}");
                        assert!(
                            total.counts.requests > 0,
                            "{be} {round} {scope:?} {from}..{to} {raw:?}"
                        );
                        // The category mix from the rollup's category rows.
                        let mix = store.category_mix(scope, from, to).await.unwrap();
                        let mix_raw = store.category_mix_of_cases(scope, from, to).await.unwrap();
                        assert_eq!(mix, mix_raw, "{be} {round} {scope:?} {from}..{to}");
                        assert_eq!(
                            mix.iter().map(|m| m.3).sum::<i64>(),
                            total.counts.requests,
                            "{be} {round}: every case counts once in the mix"
                        );
                    }
                }
            }
            // Two categories and unclassified cases were in the mix.
            let mix = store
                .category_mix(
                    &all,
                    bj(2026, 1, 1, 0, 0).timestamp_millis(),
                    bj(2027, 1, 1, 0, 0).timestamp_millis(),
                )
                .await
                .unwrap();
            assert!(
                mix.len() >= 3 && mix.iter().any(|m| m.0.is_empty()),
                "{be} {mix:?}"
            );
            // Every kind of outcome occurred, so the comparison covered them.
            let (_, total) = store
                .rates(
                    &all,
                    bj(2026, 1, 1, 0, 0).timestamp_millis(),
                    bj(2027, 1, 1, 0, 0).timestamp_millis(),
                )
                .await
                .unwrap();
            let c = &total.counts;
            assert!(
                c.refused > 0
                    && c.resolved > 0
                    && c.rated > 0
                    && c.closed > 0
                    && c.opened > c.closed,
                "{be} {c:?}"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn other_paths_scope_and_overdue() {
        each(|store, be| async move {
            setup_registry(&store).await;
            let all = Scope::Everything;
            let a = community_scope(&store, "320104001001").await;
            let b = community_scope(&store, "320104001002").await;
            let t0 = bj(2026, 11, 20, 17, 0); // a Friday
            // Answered on the spot.
            let c = store
                .intake_at(
                    &a,
                    "counter:1",
                    &NewRequest {
                        channel: "counter".into(),
                        category: Some("9001".into()),
                        description: "咨询高龄补贴办理".into(),
                        org_code: Some("320104001001".into()),
                        ..Default::default()
                    },
                    t0,
                )
                .await
                .unwrap();
            assert_eq!(c.row.grid_id, None, "{be}");
            let c = store
                .act_at(
                    &a,
                    "counter:1",
                    c.row.id,
                    c.row.version,
                    &Action::AnswerOnSpot {
                        answer: text("已告知所需材料"),
                    },
                    t0,
                )
                .await
                .unwrap();
            assert_eq!(
                (c.row.state.as_str(), c.row.resolution.as_deref()),
                ("closed", Some("answered"))
            );
            // Another community's case is invisible to A.
            let cb = store
                .intake_at(
                    &b,
                    "grid:9",
                    &NewRequest {
                        channel: "grid_patrol".into(),
                        category: Some("1401".into()),
                        description: "楼道堆放杂物".into(),
                        lon: Some(118.805),
                        lat: Some(32.025),
                        ..Default::default()
                    },
                    t0,
                )
                .await
                .unwrap();
            assert!(matches!(
                store.case(&a, cb.row.id).await,
                Err(StoreError::NotFound(_))
            ));
            assert!(
                store
                    .act_at(&a, "x", cb.row.id, cb.row.version, &Action::Open, t0)
                    .await
                    .is_err()
            );
            assert!(
                store
                    .cases(&a, &CaseFilter::default())
                    .await
                    .unwrap()
                    .iter()
                    .all(|c| c.row.id != cb.row.id)
            );
            // A's staff cannot file a request at a point in B.
            let e = store
                .intake_at(&a, "x", &req(Some("1401"), 118.805, 32.025), t0)
                .await
                .unwrap_err();
            assert!(
                matches!(e, StoreError::Invalid { ref field, .. } if field == "lon"),
                "{e}"
            );

            // Duplicates merge into a parent; merged cases drop out of the rates.
            let p = store
                .intake_at(&all, "x", &req(Some("1401"), 118.785, 32.025), t0)
                .await
                .unwrap();
            let d = store
                .intake_at(&all, "x", &req(Some("1401"), 118.786, 32.025), t0)
                .await
                .unwrap();
            let e = store
                .act_at(
                    &all,
                    "x",
                    d.row.id,
                    d.row.version,
                    &Action::Merge { parent: d.row.id },
                    t0,
                )
                .await
                .unwrap_err();
            assert!(matches!(e, StoreError::Invalid { .. }));
            let d = store
                .act_at(
                    &all,
                    "x",
                    d.row.id,
                    d.row.version,
                    &Action::Merge { parent: p.row.id },
                    t0,
                )
                .await
                .unwrap();
            assert_eq!(
                (d.row.state.as_str(), d.row.parent_id),
                ("merged", Some(p.row.id))
            );

            // Escalation: community → subdistrict, then dispatch by a rule at the subdistrict.
            let p = store
                .act_at(&all, "x", p.row.id, p.row.version, &Action::Open, t0)
                .await
                .unwrap();
            // Sanitation, 3 working days from Fri 17:00: Mon, Tue, Wed close of business.
            assert_eq!(
                p.row.due_at,
                Some(bj(2026, 11, 25, 18, 0).timestamp_millis())
            );
            let p = store
                .act_at(
                    &all,
                    "x",
                    p.row.id,
                    p.row.version,
                    &Action::Escalate {
                        reason: text("需街道协调"),
                    },
                    t0,
                )
                .await
                .unwrap();
            assert_eq!(p.row.level, "subdistrict");
            let sub = store.org_by_code(&all, "320104001").await.unwrap();
            let office = store
                .create_unit(&all, sub.id, "综合执法队", "urban_management", None)
                .await
                .unwrap();
            store
                .set_dispatch_rule(&all, "1401", sub.id, office.id)
                .await
                .unwrap();
            let p = store
                .act_at(
                    &all,
                    "x",
                    p.row.id,
                    p.row.version,
                    &Action::Dispatch { unit: 0 },
                    t0,
                )
                .await
                .unwrap();
            assert_eq!(p.row.unit_id, Some(office.id));
            let p = store
                .act_at(
                    &all,
                    "x",
                    p.row.id,
                    p.row.version,
                    &Action::Supervise {
                        note: text("请加快办理"),
                    },
                    t0,
                )
                .await
                .unwrap();
            assert_eq!(p.row.supervision_count, 1);

            // Overdue: once, with an alert in the case's area.
            let later = bj(2026, 11, 26, 9, 0);
            assert_eq!(store.scan_overdue(later).await.unwrap(), 1);
            assert_eq!(
                store.scan_overdue(later).await.unwrap(),
                0,
                "an overdue case is flagged once"
            );
            let alerts = store.alerts(&a, 10).await.unwrap();
            assert!(alerts.iter().any(|x| x.1 == p.row.id && x.2 == "overdue"));
            assert!(
                store
                    .alerts(&b, 10)
                    .await
                    .unwrap()
                    .iter()
                    .all(|x| x.1 != p.row.id)
            );
            let overdue = store
                .cases(
                    &all,
                    &CaseFilter {
                        overdue: true,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert!(overdue.iter().any(|c| c.row.id == p.row.id));

            // 12345 hotline: the same ticket twice is one case.
            let hot = NewRequest {
                channel: "hotline_12345".into(),
                external_id: Some("BJ2026112000017".into()),
                category: Some("1101".into()),
                description: "楼上夜间噪声".into(),
                lon: Some(118.785),
                lat: Some(32.025),
                ..Default::default()
            };
            let h1 = store.intake_at(&all, "12345", &hot, t0).await.unwrap();
            let h2 = store.intake_at(&all, "12345", &hot, t0).await.unwrap();
            assert_eq!(h1.row.id, h2.row.id);
            // Bad input names the field.
            let e = store
                .intake_at(
                    &all,
                    "x",
                    &NewRequest {
                        channel: "fax".into(),
                        description: "x".into(),
                        ..Default::default()
                    },
                    t0,
                )
                .await
                .unwrap_err();
            assert!(matches!(e, StoreError::Invalid { ref field, .. } if field == "channel"));
            let e = store
                .intake_at(
                    &all,
                    "x",
                    &NewRequest {
                        channel: "api".into(),
                        category: Some("12".into()),
                        description: "x".into(),
                        org_code: Some("320104001001".into()),
                        ..Default::default()
                    },
                    t0,
                )
                .await
                .unwrap_err();
            assert!(e.to_string().contains("group"), "{e}");
        })
        .await;
    }

    #[tokio::test]
    async fn two_people_acting_at_once_one_wins() {
        each(|store, be| async move {
            setup_registry(&store).await;
            let all = Scope::Everything;
            let c = store
                .intake(&all, "x", &req(Some("1401"), 118.785, 32.025))
                .await
                .unwrap();
            let refuse = Action::Refuse {
                reason: text("重复"),
            };
            let (a, b) = tokio::join!(
                store.act(&all, "worker:a", c.row.id, c.row.version, &Action::Open),
                store.act(&all, "worker:b", c.row.id, c.row.version, &refuse),
            );
            assert!(
                a.is_ok() != b.is_ok(),
                "{be}: exactly one wins: {a:?} / {b:?}"
            );
            let loser = a.err().or(b.err()).unwrap();
            assert!(matches!(loser, StoreError::Conflict(_)), "{loser}");
            assert_eq!(store.timeline(&all, c.row.id).await.unwrap().len(), 3);
        })
        .await;
    }
}

/// Accounts: the scope follows the org unit, lock-out lifts after its
/// time, sessions expire, and every sign-in is in the audit log.
#[tokio::test]
async fn accounts_lockout_and_sessions() {
    use linli_store::accounts::{LOCKOUT_MS, NewAccount, SESSION_MS};
    each(|store, be| async move {
        setup_registry(&store).await;
        let new = |username: &str, role: &str, org: Option<&str>| NewAccount {
            username: username.into(),
            role: role.into(),
            password: "夫子庙-社区-2026".into(),
            org_code: org.map(String::from),
            ..Default::default()
        };
        let admin = store
            .create_account("cli", &new("admin", "district_admin", None))
            .await
            .unwrap();
        assert_eq!(admin.scope().unwrap(), Scope::Everything, "{be}");
        let grid = store
            .create_account(
                "admin",
                &new("wang", "grid_member", Some("320104001001001")),
            )
            .await
            .unwrap();
        let path = store
            .org_by_code(&Scope::Everything, "320104001001001")
            .await
            .unwrap()
            .path;
        assert_eq!(grid.scope_path, path);
        for (a, field) in [
            (new("wang", "grid_member", Some("320104001001001")), None),
            (new("zhao", "grid_member", None), Some("org_code")),
            (new("qian", "unit_handler", None), Some("unit_id")),
            (new("sun", "emperor", None), Some("role")),
            (
                new("li'; DROP TABLE account; --", "auditor", None),
                Some("username"),
            ),
        ] {
            let e = store.create_account("admin", &a).await.unwrap_err();
            match field {
                None => assert!(matches!(e, StoreError::Conflict(_)), "{e}"),
                Some(f) => assert!(
                    matches!(&e, StoreError::Invalid { field, .. } if field == f),
                    "{e}"
                ),
            }
        }
        let t = 1_800_000_000_000i64;
        for _ in 0..5 {
            assert!(matches!(
                store.login("wang", "wrong-password", t).await,
                Err(StoreError::Unauthorized(_))
            ));
        }
        assert!(
            matches!(
                store.login("wang", "夫子庙-社区-2026", t + 1).await,
                Err(StoreError::Locked(_))
            ),
            "{be}"
        );
        let (token, session) = store
            .login("wang", "夫子庙-社区-2026", t + LOCKOUT_MS + 1)
            .await
            .unwrap();
        assert_eq!(session.account.id, grid.id);
        assert!(
            store
                .session(&token, t + LOCKOUT_MS + 2)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .session(&token, t + LOCKOUT_MS + SESSION_MS + 2)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.session("not-a-token", t).await.unwrap().is_none());
        let actions: Vec<String> = store
            .audit_entries(100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        for a in [
            "account.create",
            "account.login_failed",
            "account.locked",
            "account.login",
        ] {
            assert!(actions.iter().any(|x| x == a), "{be} {a}");
        }
    })
    .await;
}
