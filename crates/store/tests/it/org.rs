use super::*;

#[tokio::test]
async fn migrations_are_idempotent() {
    each(|store, _| async move {
        assert!(
            migrate::run(&store.db, store.vault())
                .await
                .unwrap()
                .is_empty()
        );
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

/// Batch point-in-grid: many points in one pass, in order, within scope;
/// an edge shared by two grids gives one answer, the same every time.
#[tokio::test]
async fn many_points_are_located_in_one_pass() {
    each(|store, be| async move {
        store
            .import_grids(&Scope::Everything, "test", GRIDS)
            .await
            .unwrap();
        let points = vec![
            (118.785, 32.025),
            (118.795, 32.025),
            (10.0, 10.0),
            (200.0, 95.0),
            (f64::NAN, 32.0),
            (118.79, 32.025),
        ];
        let hits = store
            .locate_grids(&Scope::Everything, points.clone())
            .await
            .unwrap();
        let codes: Vec<Option<&str>> = hits
            .iter()
            .map(|h| h.as_ref().map(|g| g.code.as_str()))
            .collect();
        assert_eq!(
            &codes[..5],
            &[
                Some("320104001001001"),
                Some("320104001001002"),
                None,
                None,
                None
            ],
            "{be}"
        );
        let edge = codes[5].expect("a point on a shared edge lies in one of the two grids");
        assert!(["320104001001001", "320104001001002"].contains(&edge));
        let again = store
            .locate_grids(&Scope::Everything, points)
            .await
            .unwrap();
        assert_eq!(again, hits, "the same answer every time");
        // One grid's scope: the other grid's points are in none of its grids.
        let g1 = store
            .locate_grid(&Scope::Everything, 118.785, 32.025)
            .await
            .unwrap()
            .unwrap();
        let scope = Scope::Subtree(OrgPath::parse(&g1.path).unwrap());
        let hits = store
            .locate_grids(&scope, vec![(118.785, 32.025), (118.795, 32.025)])
            .await
            .unwrap();
        assert!(hits[0].is_some() && hits[1].is_none(), "{be}: {hits:?}");
    })
    .await;
}
