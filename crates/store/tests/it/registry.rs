use super::*;

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

        // The same file again changes nothing: every person is found unchanged.
        let r = store.import_registry(&Scope::Everything, "test", &t, &|_, _| {}).await.unwrap();
        assert!(r.committed);
        assert!(!r.created.contains_key("people"), "{:?}", r.created);
        assert!(!r.updated.contains_key("people"), "{:?}", r.updated);
        assert_eq!(r.unchanged["people"], 4);
        let again = store.scope_stats(&Scope::Everything).await.unwrap();
        assert_eq!(again.people, 4);

        // Derived fields, tags and masking.
        let wang = store.people(&Scope::Everything, &PeopleFilter { name_contains: Some("秀英".into()), ..Default::default() }).await.unwrap();
        assert_eq!(wang.len(), 1);
        let w = &wang[0];
        assert_eq!(w.gender.as_deref(), Some("female"));
        // The birth date only as a ten-year band; the ID number to its region.
        assert_eq!(w.birth_year, Some(1949));
        assert!(w.age_band.as_deref().is_some_and(|b| b.starts_with("7")), "{:?}", w.age_band);
        assert_eq!(w.id_masked.as_deref(), Some("110105************"));
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
            "{}320104001001001,桃叶渡小区,3栋,1单元,301,abc,1,张三,,,110105194912310021,12345,房东,富豪\n999999999999999,x,1栋,,1,,,,,,,,,\n320104001001001,桃叶渡小区,3栋,1单元,302,80,1,李四,,,11010519491231002X,,,低保户\n",
            REGISTRY_CSV
        );
        let t = read_csv(bad.as_bytes()).unwrap();
        let r = store.import_registry(&Scope::Everything, "test", &t, &|_, _| {}).await.unwrap();
        assert!(!r.committed);
        let has = |row: usize, field: &str| r.errors.iter().any(|e: &RowError| e.row == row && e.field == field);
        assert!(has(7, "floor_area") && has(7, "id_number") && has(7, "phone") && has(7, "relation"), "{:?}", r.errors);
        // A tag outside the built-in list is kept as written, with a notice.
        assert!(!has(7, "tags") && !has(9, "tags"), "{:?}", r.errors);
        assert!(r.notices.iter().any(|n| n.message_zh.contains("低保户")), "{:?}", r.notices);
        assert!(has(8, "grid_code"), "{:?}", r.errors);
        let dup = r.errors.iter().find(|e| e.row == 9 && e.field == "id_number").unwrap();
        assert!(dup.message.contains("row 2"), "{dup:?}");
        assert_eq!(store.scope_stats(&Scope::Everything).await.unwrap().people, 4);
        assert_eq!(store.scope_stats(&Scope::Everything).await.unwrap().dwellings, 4);

        // A missing required column is reported against the header row.
        let t = read_csv("网格编码,楼栋,房号\n320104001001001,1栋,1\n".as_bytes()).unwrap();
        let r = store.import_registry(&Scope::Everything, "test", &t, &|_, _| {}).await.unwrap();
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert_eq!((r.errors[0].row, r.errors[0].field.as_str()), (1, "compound"));
        assert!(r.errors[0].message_zh.contains("小区"), "{:?}", r.errors);
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
        let found = store.find_by_id_number(&Scope::Everything, "11010519491231002x", "worker1").await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "王秀英");
        let by_phone = store.find_by_phone(&Scope::Everything, "+86 139-1234-5678", "worker1").await.unwrap();
        assert_eq!(by_phone[0].name, "李强");

        // A full view needs a reason and leaves an audit entry.
        let pid = found[0].id;
        assert!(store.person_unmasked(&Scope::Everything, pid, "worker1", " ").await.is_err());
        let full = store.person_unmasked(&Scope::Everything, pid, "worker1", "上门核实").await.unwrap();
        assert_eq!(full.id_number.as_deref(), Some("11010519491231002X"));
        assert_eq!(full.phone.as_deref(), Some("13800138000"));
        assert_eq!(full.birth_date.as_deref(), Some("1949-12-31"));
        let log = store.audit_entries(10).await.unwrap();
        assert_eq!(log[0].id, full.audit_id);
        assert_eq!((log[0].actor.as_str(), log[0].action.as_str(), log[0].object.clone()), ("worker1", "person.view_unmasked", format!("person:{pid}")));

        // The chain verifies, and a tampered row is found.
        // Each look-up by ID number or phone is in the log, masked.
        assert!(log.iter().any(|e| e.action == "person.lookup_id_number" && e.detail == "110105************ (1 found)"), "{log:?}");
        assert!(log.iter().any(|e| e.action == "person.lookup_phone" && e.detail == "139****5678 (1 found)"));
        let v = store.audit_verify(None).await.unwrap();
        assert!(v.first_broken.is_none(), "{v:?}");
        assert!(v.entries >= 3);
        linli_store::with_db!(&store.db, p => {
            sqlx::query("UPDATE audit_log SET detail = 'nothing to see' WHERE seq = 2").execute(p).await.unwrap();
        });
        let v = store.audit_verify(None).await.unwrap();
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
                .find_by_id_number(&b, "11010519491231002X", "x")
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
        assert!(masked.contains("110105************") && !masked.contains("11010519491231002X"), "{be}");
        // Masked, the birth date is an age band, as on screen.
        assert!(!masked.contains("1949-12-31") && masked.contains("0–79岁"), "{be}");
        assert!(masked.contains("年龄段") && !masked.contains("出生日期"), "{be}");
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

#[tokio::test]
async fn a_worker_edits_phone_relations_and_tags_with_an_audit_entry() {
    each(|store, be| async move {
        setup_registry(&store).await;
        store
            .save_district_tags("admin", &["低保户".to_string()])
            .await
            .unwrap();
        let all = Scope::Everything;
        let li = store
            .people(
                &all,
                &PeopleFilter {
                    name_contains: Some("李强".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .remove(0);
        use linli_store::registry_edit::PersonEdit;
        let edit = PersonEdit {
            phone: Some("186 0000 2335".into()),
            relation: Some("业主".into()),
            head_relation: Some("户主".into()),
            tags: Some(vec!["独居老人".into(), "低保户".into()]),
            ..Default::default()
        };
        let after = store
            .edit_person(&all, "account:w", li.id, &edit)
            .await
            .unwrap();
        assert_eq!(after.relation, "owner", "{be}");
        assert_eq!(after.head_relation.as_deref(), Some("户主"));
        assert_eq!(after.phone_masked.as_deref(), Some("186****2335"));
        let mut tags: Vec<&str> = after.tags.split(',').collect();
        tags.sort_unstable();
        assert_eq!(tags, vec!["elderly_alone", "低保户"]);
        // The new number is sealed and indexed: the look-up finds them, the
        // old one no longer does.
        assert_eq!(
            store
                .find_by_phone(&all, "18600002335", "t")
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            store
                .find_by_phone(&all, "13912345678", "t")
                .await
                .unwrap()
                .is_empty()
        );
        let full = store
            .person_unmasked(&all, li.id, "t", "核实电话")
            .await
            .unwrap();
        assert_eq!(full.phone.as_deref(), Some("18600002335"));
        // One audit entry names what changed, the phone masked.
        let log = store.audit_entries(20).await.unwrap();
        let e = log.iter().find(|e| e.action == "person.edit").unwrap();
        assert!(
            e.detail.contains("186****2335") && !e.detail.contains("18600002335"),
            "{}",
            e.detail
        );
        assert!(e.detail.contains("居住关系 租户 → 业主"), "{}", e.detail);
        assert!(
            e.detail.contains("标签 增[独居老人、低保户]"),
            "{}",
            e.detail
        );
        // Bad values are refused by field and nothing is written.
        for (bad, field) in [
            (
                PersonEdit {
                    phone: Some("12345".into()),
                    relation: Some("owner".into()),
                    ..Default::default()
                },
                "phone",
            ),
            (
                PersonEdit {
                    relation: Some("房东".into()),
                    ..Default::default()
                },
                "relation",
            ),
            (
                PersonEdit {
                    relation: Some("owner".into()),
                    tags: Some(vec!["富豪".into()]),
                    ..Default::default()
                },
                "tags",
            ),
        ] {
            match store.edit_person(&all, "t", li.id, &bad).await {
                Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field, "{be}"),
                other => panic!("{be}: {other:?}"),
            }
        }
        assert_eq!(store.person(&all, li.id).await.unwrap().relation, "owner");
        // No change, no entry; out of scope, not found.
        let n = store.audit_entries(100).await.unwrap().len();
        store
            .edit_person(
                &all,
                "t",
                li.id,
                &PersonEdit {
                    relation: Some("owner".into()),
                    head_relation: Some("户主".into()),
                    tags: Some(vec!["elderly_alone".into(), "低保户".into()]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(store.audit_entries(100).await.unwrap().len(), n);
        let other = community_scope(&store, "320104001002").await;
        assert!(matches!(
            store.edit_person(&other, "t", li.id, &edit).await,
            Err(StoreError::NotFound(_))
        ));
        // Removing the phone.
        let gone = store
            .edit_person(
                &all,
                "t",
                li.id,
                &PersonEdit {
                    clear_phone: true,
                    relation: Some("owner".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(gone.phone_masked, None);
        // What the edit leaves out is kept.
        assert_eq!(gone.head_relation.as_deref(), Some("户主"), "{be}");
        assert!(gone.tags.contains("低保户"), "{be}");
    })
    .await;
}

#[tokio::test]
async fn administrators_keep_categories_and_calendar_days() {
    each(|store, be| async move {
        use chrono::NaiveDate;
        use linli_core::category::{Category, Taxonomy};
        let kinds = Taxonomy::default_set().unwrap().unit_kinds;
        let t = Taxonomy {
            unit_kinds: kinds,
            categories: store.categories().await.unwrap(),
        };
        let leaf = t.leaves().next().unwrap().clone();
        let added = t
            .clone()
            .with_category(Category {
                code: "9901".into(),
                name: "共享单车乱停".into(),
                ..leaf
            })
            .unwrap();
        store
            .save_categories("account:admin", &added)
            .await
            .unwrap();
        let now = store.categories().await.unwrap();
        assert!(
            now.iter()
                .any(|c| c.code == "9901" && c.name == "共享单车乱停"),
            "{be}"
        );
        store
            .save_hotline_entry("account:admin", "城乡建设/共享单车", Some("9901"))
            .await
            .unwrap();
        store
            .save_categories("account:admin", &added.without_category("9901").unwrap())
            .await
            .unwrap();
        // The entry of a removed category can still be removed (only the
        // entry changed is checked), and an unknown one is refused by name.
        store
            .save_hotline_entry("account:admin", "城乡建设/共享单车", None)
            .await
            .unwrap();
        assert!(store.hotline_categories().await.unwrap().is_empty(), "{be}");
        assert!(matches!(
            store
                .save_hotline_entry("account:admin", "没有这条", None)
                .await,
            Err(StoreError::Invalid { .. })
        ));
        assert!(
            !store
                .categories()
                .await
                .unwrap()
                .iter()
                .any(|c| c.code == "9901")
        );
        let log = store.audit_entries(10).await.unwrap();
        assert!(
            log.iter()
                .filter(|e| e.action == "categories.replace" && e.actor == "account:admin")
                .count()
                >= 2
        );

        // A holiday set by hand moves deadlines and survives a reopen.
        let day = NaiveDate::from_ymd_opt(2027, 3, 3).unwrap(); // a Wednesday
        assert!(store.calendar().is_working_day(day));
        store
            .set_calendar_day("account:admin", day, Some(false), "临时假日")
            .await
            .unwrap();
        assert!(!store.calendar().is_working_day(day));
        assert!(store.calendar().years().contains(&2027));
        let weekday = NaiveDate::from_ymd_opt(2027, 3, 4).unwrap();
        assert!(matches!(
            store
                .set_calendar_day("account:admin", weekday, Some(true), "调休")
                .await,
            Err(StoreError::Invalid { .. })
        ));
        assert!(!store.calendar().is_working_day(day), "{be}");
        assert_eq!(store.calendar().day_name(day), Some("临时假日"));
        store
            .set_calendar_day("account:admin", day, None, "")
            .await
            .unwrap();
        assert!(store.calendar().is_working_day(day));
    })
    .await;
}
