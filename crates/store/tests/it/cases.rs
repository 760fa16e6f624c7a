use super::*;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use linli_core::case::{Action, Rating};
use linli_core::ids::{AccountId, CaseId, OrgId, UnitId};
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
        assert!(c.allowed.contains(&linli_core::case::ActionKind::Open));

        let mut v = c.row.version;
        let id = c.row.id;
        let step = |a: Action, v: i64, t: DateTime<Utc>| {
            let store = store.clone();
            async move { store.act_at(&Scope::Everything, "worker:1", CaseId(id), v, &a, t).await }
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
        assert_eq!(c.allowed, vec![linli_core::case::ActionKind::Reopen]);

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
                let allowed: Vec<&str> = view.allowed.iter().map(|k| k.code()).collect();
                if allowed.is_empty() {
                    break;
                }
                let mut kind = allowed[rng.index(allowed.len())];
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
                    && let Some(f) = forward.iter().find(|f| allowed.contains(f))
                {
                    kind = f;
                }
                if i % 6 == 1 && allowed.contains(&"refuse") {
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
                    "supplement" => Action::Supplement {
                        text: text("楼上又漏水了"),
                        photos: vec![],
                    },
                    "return_visit" => {
                        let rating = [
                            Rating::Satisfied,
                            Rating::BasicallySatisfied,
                            Rating::Unsatisfied,
                        ][rng.index(3)];
                        Action::ReturnVisit {
                            rating,
                            rework: rating == Rating::Unsatisfied && rng.below(2) == 0,
                            note: text("电话回访"),
                        }
                    }
                    other => panic!("unexpected action {other}"),
                };
                at += chrono::Duration::hours(rng.range(1, 30) as i64);
                if let Ok(c) = store
                    .act_at(&all, "worker:1", CaseId(c.row.id), v, &action, at)
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
                        mix.iter().map(|m| m.cases).sum::<i64>(),
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
            mix.len() >= 3 && mix.iter().any(|m| m.code.is_empty()),
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
            c.refused > 0 && c.resolved > 0 && c.rated > 0 && c.closed > 0 && c.opened > c.closed,
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
                CaseId(c.row.id),
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
                .act_at(
                    &a,
                    "x",
                    CaseId(cb.row.id),
                    cb.row.version,
                    &Action::Open,
                    t0
                )
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
                CaseId(d.row.id),
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
                CaseId(d.row.id),
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
            .act_at(
                &all,
                "x",
                CaseId(p.row.id),
                p.row.version,
                &Action::Open,
                t0,
            )
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
                CaseId(p.row.id),
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
            .set_dispatch_rule(&all, "1401", OrgId(sub.id), UnitId(office.id))
            .await
            .unwrap();
        let p = store
            .act_at(
                &all,
                "x",
                CaseId(p.row.id),
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
                CaseId(p.row.id),
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
        assert!(
            alerts
                .iter()
                .any(|x| x.case_id == p.row.id && x.kind == "overdue")
        );
        assert!(
            store
                .alerts(&b, 10)
                .await
                .unwrap()
                .iter()
                .all(|x| x.case_id != p.row.id)
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
            store.act(
                &all,
                "worker:a",
                CaseId(c.row.id),
                c.row.version,
                &Action::Open
            ),
            store.act(&all, "worker:b", CaseId(c.row.id), c.row.version, &refuse),
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

/// Each role's to-dos (待办) count the cases in the caller's area that
/// wait for the to-do's step, and the to-do's list holds exactly those;
/// a return visit (回访) clears an unsatisfied case by rework or by an
/// explained close.
#[tokio::test]
async fn to_dos_count_the_cases_behind_them() {
    use linli_core::todo::Todo;
    each(|store, be| async move {
        setup_registry(&store).await;
        let all = Scope::Everything;
        let community = store.org_by_code(&all, "320104001001").await.unwrap();
        let unit = store
            .create_unit(&all, community.id, "金陵物业", "property", None)
            .await
            .unwrap();
        let new = |category: Option<&'static str>| {
            let store = store.clone();
            async move {
                store
                    .intake(
                        &Scope::Everything,
                        "worker:1",
                        &req(category, 118.785, 32.025),
                    )
                    .await
                    .unwrap()
            }
        };
        let go = |c: linli_store::cases::CaseView, steps: Vec<Action>| {
            let store = store.clone();
            async move {
                let (id, mut v) = (c.row.id, c.row.version);
                for a in steps {
                    v = store
                        .act(&Scope::Everything, "worker:1", CaseId(id), v, &a)
                        .await
                        .unwrap()
                        .row
                        .version;
                }
                id
            }
        };
        let dispatch = || vec![Action::Open, Action::Dispatch { unit: unit.id }];
        let handled = || {
            let mut s = dispatch();
            s.extend([
                Action::Accept,
                Action::ReportBack {
                    text: text("已修好"),
                    photos: vec![],
                },
            ]);
            s
        };
        new(None).await; // registered
        new(Some("1202")).await; // classified
        go(new(Some("1202")).await, vec![Action::Open]).await;
        go(new(Some("1202")).await, dispatch()).await;
        let mut s = dispatch();
        s.extend([
            Action::Accept,
            Action::RequestExtension {
                working_days: 3,
                reason: text("等配件"),
            },
        ]);
        go(new(Some("1202")).await, s).await;
        go(new(Some("1202")).await, handled()).await; // reported back
        let mut s = handled();
        s.extend([
            Action::Verify {
                passed: true,
                note: text(""),
            },
            Action::Rate {
                rating: Rating::Unsatisfied,
                comment: text("还是坏的"),
            },
        ]);
        let unhappy = go(new(Some("1202")).await, s).await;
        // A case opened long ago: overdue now.
        let old = store
            .intake_at(
                &all,
                "worker:1",
                &req(Some("1202"), 118.785, 32.025),
                bj(2026, 2, 12, 10, 0),
            )
            .await
            .unwrap();
        store
            .act_at(
                &all,
                "worker:1",
                CaseId(old.row.id),
                old.row.version,
                &Action::Open,
                bj(2026, 2, 12, 10, 0),
            )
            .await
            .unwrap();

        let count = |scope: Scope, t: Todo| {
            let store = store.clone();
            async move {
                let n = store.todo_counts(&scope, &[t]).await.unwrap()[0].1;
                let listed = store
                    .cases(
                        &scope,
                        &CaseFilter {
                            todo: Some(t),
                            limit: 500,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(
                    listed.len() as i64,
                    n,
                    "{t:?}: the list holds what the count says"
                );
                n
            }
        };
        let here = community.scope().unwrap();
        for (t, want) in [
            (Todo::ToClassify, 1),
            (Todo::ToOpen, 1),
            (Todo::ToDispatch, 2),
            (Todo::ToAccept, 1),
            (Todo::ExtensionPending, 1),
            (Todo::ToVerify, 1),
            (Todo::Overdue, 1),
            (Todo::Unsatisfied, 1),
        ] {
            assert_eq!(count(all.clone(), t).await, want, "{be} {t:?}");
            assert_eq!(
                count(here.clone(), t).await,
                want,
                "{be} {t:?} in the community"
            );
        }
        count(all.clone(), Todo::DueSoon).await;
        // The unit sees what is dispatched to it; another community nothing.
        assert_eq!(count(Scope::Unit(unit.id), Todo::ToAccept).await, 1, "{be}");
        assert_eq!(
            count(Scope::Unit(unit.id), Todo::ToClassify).await,
            0,
            "{be}"
        );
        let other = community_scope(&store, "320104001002").await;
        let other_scope = other.clone();
        assert_eq!(count(other, Todo::ToClassify).await, 0, "{be}");
        // The role's list asks for all its to-dos at once.
        let worker = store
            .todo_counts(
                &here,
                &Todo::for_role(linli_core::access::Role::CommunityWorker),
            )
            .await
            .unwrap();
        assert!(
            worker.iter().any(|(t, n)| *t == Todo::ToVerify && *n == 1),
            "{be} {worker:?}"
        );

        // The unsatisfied case: a return visit that explains clears it,
        // still counted unsatisfied in the rates.
        let c = store.case(&all, unhappy).await.unwrap();
        let visit = |rework: bool| Action::ReturnVisit {
            rating: Rating::Unsatisfied,
            rework,
            note: text("电话回访，已解释"),
        };
        let c = store
            .act(
                &all,
                "worker:2",
                CaseId(unhappy),
                c.row.version,
                &visit(false),
            )
            .await
            .unwrap();
        assert_eq!(
            (c.row.state.as_str(), c.row.resolution.as_deref()),
            ("rated", Some("explained")),
            "{be}"
        );
        assert_eq!(count(all.clone(), Todo::Unsatisfied).await, 0, "{be}");
        // Visited once is enough: no second visit overrides it.
        let again = store
            .act(
                &all,
                "worker:2",
                CaseId(unhappy),
                c.row.version,
                &visit(true),
            )
            .await;
        assert!(
            matches!(again, Err(StoreError::Conflict(_))),
            "{be}: {again:?}"
        );
        // Another unsatisfied case, sent back for rework: with its unit, a new deadline.
        let mut s = handled();
        s.extend([
            Action::Verify {
                passed: true,
                note: text(""),
            },
            Action::Rate {
                rating: Rating::Unsatisfied,
                comment: text("没修好"),
            },
        ]);
        let unhappy = go(new(Some("1202")).await, s).await;
        let c = store.case(&all, unhappy).await.unwrap();
        let c = store
            .act(
                &all,
                "worker:2",
                CaseId(unhappy),
                c.row.version,
                &visit(true),
            )
            .await
            .unwrap();
        assert_eq!(
            (c.row.state.as_str(), c.row.unit_id),
            ("handling", Some(unit.id)),
            "{be}"
        );
        assert!(
            c.row.due_at.unwrap() > Utc::now().timestamp_millis(),
            "{be}: a new deadline"
        );
        assert_eq!(c.row.rating, None);

        // The workbench's search: words in titles (a % is a character, not
        // a wildcard), and the caller's phone, audited with the number masked.
        let every = CaseFilter {
            limit: 500,
            ..Default::default()
        };
        let words = |k: &str| CaseFilter {
            keyword: Some(k.into()),
            ..every.clone()
        };
        assert_eq!(
            store.cases(&all, &words("电梯停了")).await.unwrap().len(),
            9,
            "{be}"
        );
        assert_eq!(
            store.cases(&all, &words("100%")).await.unwrap().len(),
            0,
            "{be}"
        );
        // Latin letters match either case on both databases.
        let led = linli_store::cases::NewRequest {
            title: Some("LED路灯不亮".into()),
            reporter_phone: None,
            ..req(Some("0601"), 118.785, 32.025)
        };
        store.intake(&all, "worker:1", &led).await.unwrap();
        assert_eq!(
            store.cases(&all, &words("led路灯")).await.unwrap().len(),
            1,
            "{be}"
        );
        let mine = store
            .cases_by_phone(&all, &every, "138 0013 8000", "account:counter")
            .await
            .unwrap();
        assert_eq!(mine.len(), 9, "{be}");
        assert!(
            store
                .cases_by_phone(&all, &every, "13900139000", "account:counter")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .cases_by_phone(&other_scope, &every, "13800138000", "account:counter")
                .await
                .unwrap()
                .is_empty(),
            "{be}: only in scope"
        );
        let log = store.audit_entries(3).await.unwrap();
        assert!(
            log.iter().any(|e| e.action == "case.lookup_phone"
                && e.detail.contains("138****8000")
                && !e.detail.contains("13800138000")),
            "{be}"
        );
    })
    .await;
}

/// Each step tells those it concerns (通知), in the step's transaction:
/// the unit's handlers of a dispatch, the resident of each step of their
/// request, not the one who took it, not a muted topic; those who chose
/// the gateway also get a signed webhook in the outbox.
#[tokio::test]
async fn steps_notify_those_they_concern() {
    use linli_core::access::Role;
    use linli_core::notify::Topic;
    use linli_store::accounts::NewAccount;
    each(|store, be| async move {
        setup_registry(&store).await;
        let all = Scope::Everything;
        let community = store.org_by_code(&all, "320104001001").await.unwrap();
        let unit = store
            .create_unit(&all, community.id, "金陵物业", "property", None)
            .await
            .unwrap();
        let account =
            |username: &str, role: Role, unit_id: Option<i64>, org: Option<&str>| NewAccount {
                username: username.into(),
                display_name: username.into(),
                role: role.code().into(),
                password: "Notice-口令-2026".into(),
                org_code: org.map(String::from),
                unit_id,
            };
        let resident = store
            .create_account("t", &account("n.resident", Role::Resident, None, None))
            .await
            .unwrap();
        let handler = store
            .create_account(
                "t",
                &account("n.handler", Role::UnitHandler, Some(unit.id), None),
            )
            .await
            .unwrap();
        let muted = store
            .create_account(
                "t",
                &account("n.handler2", Role::UnitHandler, Some(unit.id), None),
            )
            .await
            .unwrap();
        let secretary = store
            .create_account(
                "t",
                &account(
                    "n.secretary",
                    Role::CommunitySecretary,
                    None,
                    Some("320104001001"),
                ),
            )
            .await
            .unwrap();
        store
            .save_notify_choice(muted.id, Role::UnitHandler, &[Topic::Overdue], false)
            .await
            .unwrap();
        store
            .set_notify_gateway("t", Some("http://127.0.0.1:9/sms"))
            .await
            .unwrap();
        store
            .save_notify_choice(
                handler.id,
                Role::UnitHandler,
                &[Topic::Assigned, Topic::Overdue],
                true,
            )
            .await
            .unwrap();

        let c = store
            .intake(
                &Scope::Reporter(resident.id),
                "account:n.resident",
                &req(Some("1202"), 118.785, 32.025),
            )
            .await
            .unwrap();
        let (id, mut v) = (c.row.id, c.row.version);
        for a in [Action::Open, Action::Dispatch { unit: unit.id }] {
            v = store
                .act(&all, "account:n.worker", CaseId(id), v, &a)
                .await
                .unwrap()
                .row
                .version;
        }
        let of = |who: i64| {
            let store = store.clone();
            async move { store.notifications(who, 50).await.unwrap() }
        };
        let h = of(handler.id).await;
        assert_eq!(h.len(), 1, "{be}: the dispatch, to the handler");
        assert_eq!((h[0].topic.as_str(), h[0].case_id), ("assigned", Some(id)));
        assert!(h[0].message_zh.contains(&c.row.code), "{be}");
        assert!(
            of(muted.id).await.is_empty(),
            "{be}: a muted topic is not delivered"
        );
        let r = of(resident.id).await;
        assert_eq!(
            r.len(),
            2,
            "{be}: the resident hears of the opening and the dispatch"
        );
        assert!(r.iter().all(|n| n.topic == "my_request"));
        // The handler's gateway delivery is queued with the notice.
        let out = store.due_deliveries(i64::MAX, 100).await.unwrap();
        let sms: Vec<_> = out.iter().filter(|d| d.topic == "notification").collect();
        assert_eq!(sms.len(), 1, "{be}: only the handler chose the gateway");
        assert!(
            sms[0].payload.contains("n.handler") && sms[0].target_url.ends_with("/sms"),
            "{be}"
        );

        // The handler asks for time: the community's secretary is told, the
        // handler (who asked) is not told of their own step.
        for a in [
            Action::Accept,
            Action::RequestExtension {
                working_days: 2,
                reason: text("等配件"),
            },
        ] {
            v = store
                .act(
                    &Scope::Unit(unit.id),
                    "account:n.handler",
                    CaseId(id),
                    v,
                    &a,
                )
                .await
                .unwrap()
                .row
                .version;
        }
        let s = of(secretary.id).await;
        assert_eq!(s.len(), 1, "{be}");
        assert_eq!(s[0].topic, "extension_asked");
        assert_eq!(
            of(handler.id).await.len(),
            1,
            "{be}: nothing of their own steps"
        );
        assert_eq!(
            of(resident.id).await.len(),
            3,
            "{be}: accepted, not the request for time"
        );

        // Read: one, then all; another person's notice is not found.
        assert_eq!(store.unread_notifications(resident.id).await.unwrap(), 3);
        let first = of(resident.id).await[0].id;
        assert_eq!(
            store
                .mark_read(AccountId(resident.id), Some(first))
                .await
                .unwrap(),
            Some(id)
        );
        assert_eq!(store.unread_notifications(resident.id).await.unwrap(), 2);
        assert!(
            store
                .mark_read(AccountId(handler.id), Some(first))
                .await
                .is_err(),
            "{be}"
        );
        store.mark_read(AccountId(resident.id), None).await.unwrap();
        assert_eq!(store.unread_notifications(resident.id).await.unwrap(), 0);
        // The gateway must be a web address that is not link-local.
        assert!(
            store
                .set_notify_gateway("t", Some("http://169.254.169.254/"))
                .await
                .is_err()
        );
    })
    .await;
}
