//! Privacy and the audit guarantee (issue 12): masks that cannot be
//! undone, birth dates and free text sealed, external ids unique, and a
//! keyed audit chain whose damage is always a verdict.

use super::*;

use linli_core::case::Action;
use linli_core::ids::CaseId;
use linli_store::audit::Checkpoint;
use linli_store::cases::NewRequest;
use linli_store::vault::{Field, Vault};

fn request(description: &str, external_id: Option<&str>, lon: f64) -> NewRequest {
    NewRequest {
        channel: "hotline_12345".into(),
        external_id: external_id.map(String::from),
        description: description.into(),
        lon: Some(lon),
        lat: Some(32.025),
        ..Default::default()
    }
}

#[tokio::test]
async fn rows_from_before_the_upgrade_are_sealed_and_masked_anew() {
    each(|store, be| async move {
        setup_registry(&store).await;
        // A row as version 8 wrote it: a clear birth date, the old mask.
        let v = store.vault();
        let sealed = v.seal(Field::IdNumber, "11010519491231002X");
        linli_store::with_db!(&store.db, p => {
            sqlx::query("UPDATE person SET birth_date = '1949-12-31', birth_enc = NULL, id_enc = $1, id_masked = NULL WHERE name = '王秀英'")
                .bind(&sealed).execute(p).await.unwrap();
        });
        assert_eq!(store.seal_legacy_people().await.unwrap(), 1, "{be}");
        assert_eq!(store.seal_legacy_people().await.unwrap(), 0, "once done, nothing more");
        let (birth, birth_enc, masked): (Option<String>, Option<Vec<u8>>, Option<String>) = linli_store::with_db!(&store.db, p => {
            sqlx::query_as("SELECT birth_date, birth_enc, id_masked FROM person WHERE name = '王秀英'").fetch_one(p).await.unwrap()
        });
        assert_eq!(birth, None, "{be}: no clear birth date is left");
        assert_eq!(v.open(Field::BirthDate, &birth_enc.unwrap()).unwrap(), "1949-12-31");
        assert_eq!(masked.as_deref(), Some("110105************"));
        // Nothing in the person table spells the birth date any more.
        let clear: i64 = linli_store::with_db!(&store.db, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM person WHERE birth_date IS NOT NULL").fetch_one(p).await.unwrap()
        });
        assert_eq!(clear, 0);
    })
    .await;
}

/// A reporter's name is kept sealed and shown masked (张**); the full name
/// only on the audited view of the originals. Cases from before migration
/// 19 (a clear name) are sealed by `seal_legacy_cases`.
#[tokio::test]
async fn reporter_names_are_sealed_and_masked() {
    each(|store, be| async move {
        setup_registry(&store).await;
        let all = Scope::Everything;
        let c = store
            .intake(&all, "hotline:1", &NewRequest { reporter_name: Some("欧阳秀英".into()), ..request("楼道灯坏了", None, 118.785) })
            .await
            .unwrap();
        assert_eq!(c.row.reporter_name.as_deref(), Some("欧**"), "{be}");
        let stored: (Option<String>, Option<Vec<u8>>) = linli_store::with_db!(&store.db, p => {
            sqlx::query_as("SELECT reporter_name, reporter_name_enc FROM service_case WHERE id = $1").bind(c.row.id).fetch_one(p).await.unwrap()
        });
        assert_eq!(stored.0.as_deref(), Some("欧**"), "{be}: only the mask in clear");
        assert_eq!(store.vault().open(Field::ReporterName, &stored.1.unwrap()).unwrap(), "欧阳秀英");
        assert_eq!(store.case(&all, c.row.id).await.unwrap().row.reporter_name.as_deref(), Some("欧**"));
        let o = store.case_originals(&all, c.row.id, "secretary1", "回访核实").await.unwrap();
        assert_eq!(o.reporter_name.as_deref(), Some("欧阳秀英"), "{be}");
        let log = store.audit_entries(1).await.unwrap();
        assert_eq!((log[0].action.as_str(), log[0].id), ("case.view_unmasked", o.audit_id));

        // A case as version 18 wrote it: the name in clear, nothing sealed.
        linli_store::with_db!(&store.db, p => {
            sqlx::query("UPDATE service_case SET reporter_name = '王秀英', reporter_name_enc = NULL WHERE id = $1")
                .bind(c.row.id).execute(p).await.unwrap();
        });
        assert_eq!(
            store.case_originals(&all, c.row.id, "secretary1", "回访核实").await.unwrap().reporter_name.as_deref(),
            Some("王秀英"),
            "{be}: a name not yet sealed is still shown in full there"
        );
        assert_eq!(store.seal_legacy_cases().await.unwrap(), 1, "{be}");
        assert_eq!(store.seal_legacy_cases().await.unwrap(), 0, "once done, nothing more");
        let row = store.case(&all, c.row.id).await.unwrap().row;
        assert_eq!(row.reporter_name.as_deref(), Some("王**"), "{be}");
        let o = store.case_originals(&all, c.row.id, "secretary1", "回访核实").await.unwrap();
        assert_eq!(o.reporter_name.as_deref(), Some("王秀英"));
    })
    .await;
}

#[tokio::test]
async fn ids_and_phones_in_free_text_are_masked_and_the_original_sealed() {
    each(|store, be| async move {
        setup_registry(&store).await;
        let all = Scope::Everything;
        let c = store
            .intake(&all, "hotline:1", &request("我是王秀英，身份证11010519491231002X，电话13800138000，楼道灯坏了", None, 118.785))
            .await
            .unwrap();
        assert_eq!(c.row.description, "我是王秀英，身份证110105************，电话138****8000，楼道灯坏了", "{be}");
        let stored = store.case(&all, c.row.id).await.unwrap();
        assert!(!stored.row.title.contains("13800138000") && !stored.row.description.contains("13800138000"));
        let sealed: Vec<(String, Vec<u8>)> = linli_store::with_db!(&store.db, p => {
            sqlx::query_as("SELECT field, sealed FROM sealed_text WHERE case_id = $1 ORDER BY field").bind(c.row.id).fetch_all(p).await.unwrap()
        });
        let fields: Vec<&str> = sealed.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["description"], "{be}");
        let original = store.vault().open(Field::FreeText, &sealed[0].1).unwrap();
        assert!(original.contains("11010519491231002X"));
        // A staff note with a phone: masked in the timeline and the audit log.
        let c = store
            .act(&all, "worker:1", CaseId(c.row.id), c.row.version, &Action::Classify { category: "0601".into() })
            .await
            .unwrap();
        let c = store
            .act(&all, "worker:1", CaseId(c.row.id), c.row.version, &Action::Open)
            .await
            .unwrap();
        store
            .act(&all, "worker:1", CaseId(c.row.id), c.row.version, &Action::Escalate { reason: "住户说再打13900139000联系".into() })
            .await
            .unwrap();
        let timeline = store.timeline(&all, c.row.id).await.unwrap();
        let note = &timeline.last().unwrap().note;
        assert_eq!(note, "住户说再打139****9000联系", "{be}");
        assert!(store.audit_entries(5).await.unwrap().iter().all(|e| !e.detail.contains("13900139000")));
        let notes: i64 = linli_store::with_db!(&store.db, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM sealed_text WHERE case_id = $1 AND field = 'note' AND event_id IS NOT NULL").bind(c.row.id).fetch_one(p).await.unwrap()
        });
        assert_eq!(notes, 1);
        // The title is cut from the masked text: a number straddling the
        // cut leaves no fragment in clear (13 characters, then an ID).
        let c = store
            .intake(&all, "hotline:1", &request(&format!("{}11010519491231002X 楼道灯坏了", "漏".repeat(13)), None, 118.785))
            .await
            .unwrap();
        assert!(!c.row.title.contains("1949") && !c.row.title.contains("0519"), "{be}: {}", c.row.title);
        // The step's data (the action as sent) is masked like its note.
        let data: String = linli_store::with_db!(&store.db, p => {
            sqlx::query_scalar("SELECT data FROM case_event WHERE note LIKE '%139****9000%'").fetch_one(p).await.unwrap()
        });
        assert!(!data.contains("13900139000"), "{be}: {data}");
    })
    .await;
}

#[tokio::test]
async fn one_case_per_external_id_even_when_sent_at_once() {
    each(|store, be| async move {
        setup_registry(&store).await;
        let all = Scope::Everything;
        let sends: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.intake(&Scope::Everything, "hotline:1", &request("井盖丢了", Some("12345-2026-0001"), 118.785)).await
                })
            })
            .collect();
        let mut ids = Vec::new();
        for s in sends {
            ids.push(s.await.unwrap().unwrap().row.id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{be}: {ids:?}");
        let n: i64 = linli_store::with_db!(&store.db, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM service_case WHERE external_id = '12345-2026-0001'").fetch_one(p).await.unwrap()
        });
        assert_eq!(n, 1, "{be}");
        // Another community sending the same id learns nothing of the case.
        let b = community_scope(&store, "320104001002").await;
        match store.intake(&b, "hotline:2", &request("井盖丢了", Some("12345-2026-0001"), 118.805)).await {
            Err(StoreError::Conflict(m)) => assert!(!m.en.contains(&ids[0].to_string()) && !m.zh.contains(&ids[0].to_string()), "{m}"),
            other => panic!("{be}: {other:?}"),
        }
        // Too long an external id is refused by name.
        let long = "x".repeat(65);
        assert!(matches!(
            store.intake(&all, "hotline:1", &request("井盖丢了", Some(&long), 118.785)).await,
            Err(StoreError::Invalid { field, .. }) if field == "external_id"
        ));
    })
    .await;
}

/// Runs SQL against the store's database (tampering, in these tests).
async fn exec(store: &Store, sql: &str) {
    linli_store::with_db!(&store.db, p => {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(p).await.unwrap();
    });
}

async fn some_entries(store: &Store, n: usize) {
    for i in 0..n {
        store
            .audit("tester", "test.entry", &format!("thing:{i}"), "detail")
            .await
            .unwrap();
    }
}

fn reason(v: &linli_store::audit::Verification) -> String {
    v.first_broken
        .as_ref()
        .map(|b| b.reason.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_rewritten_entry_with_a_recomputed_chain_is_caught() {
    each(|store, be| async move {
        some_entries(&store, 5).await;
        let cp = store.audit_checkpoint().await.unwrap();
        assert!(store.audit_verify(Some(&cp)).await.unwrap().first_broken.is_none(), "{be}");
        // Rewrite entry 3 and recompute every link after it as an attacker
        // without the audit key would (plain SHA-256), head included.
        let entries = {
            let mut e = store.audit_entries(100).await.unwrap();
            e.reverse();
            e
        };
        let mut prev = entries[1].hash.clone();
        for e in &entries[2..] {
            let detail = if e.seq == 3 { "nothing happened" } else { e.detail.as_str() };
            let h = linli_store::audit::entry_hash(None, &prev, e.seq, e.id, e.at, &e.actor, &e.action, &e.object, detail);
            exec(&store, &format!("UPDATE audit_log SET detail = '{detail}', prev_hash = '{prev}', hash = '{h}' WHERE seq = {}", e.seq)).await;
            prev = h;
        }
        exec(&store, &format!("UPDATE audit_head SET last_hash = '{prev}' WHERE id = 1")).await;
        let v = store.audit_verify(None).await.unwrap();
        assert_eq!(v.first_broken.as_ref().map(|b| b.id), Some(3), "{be}: {v:?}");
        // Said in both languages (the audit page is Chinese first).
        let b = v.first_broken.as_ref().unwrap();
        assert!(b.reason.contains("does not match its link"), "{be}: {b:?}");
        assert!(b.reason_zh.contains("内容与其哈希不符"), "{be}: {b:?}");
        // Moving the start of the keyed chain to pass everything off as
        // unkeyed (SHA-256) entries is caught, checkpoint or not.
        exec(&store, &format!("UPDATE audit_head SET keyed_from = {} WHERE id = 1", entries.len())).await;
        assert!(reason(&store.audit_verify(None).await.unwrap()).contains("not the one signed"), "{be}");
        exec(&store, "UPDATE audit_head SET keyed_from = 0 WHERE id = 1").await;
        // A chain keyed with another key fails the same way.
        let other = Store::new(store.db.clone(), Vault::new([9; 32])).unwrap();
        assert!(other.audit_verify(None).await.unwrap().first_broken.is_some());
        // And a checkpoint not signed by this key is refused.
        let forged = Checkpoint { mac: "00".into(), ..cp };
        assert!(reason(&store.audit_verify(Some(&forged)).await.unwrap()).contains("not signed"));
    })
    .await;
}

#[tokio::test]
async fn truncation_rollback_and_emptying_are_caught_by_a_checkpoint() {
    each(|store, be| async move {
        some_entries(&store, 6).await;
        let cp = store.audit_checkpoint().await.unwrap();
        let entries = store.audit_entries(100).await.unwrap();
        let third = entries.iter().find(|e| e.seq == 3).unwrap().hash.clone();
        // Cut the last three off and roll the head back: the chain alone
        // is consistent again, the checkpoint is not.
        exec(&store, "DELETE FROM audit_log WHERE seq > 3").await;
        exec(
            &store,
            &format!("UPDATE audit_head SET last_seq = 3, last_hash = '{third}' WHERE id = 1"),
        )
        .await;
        // Without a checkpoint: SQLite's id counter, or PostgreSQL's
        // entry counters, still show the cut.
        let alone = store.audit_verify(None).await.unwrap();
        assert!(
            reason(&alone).contains("missing from the end"),
            "{be}: {alone:?}"
        );
        let v = store.audit_verify(Some(&cp)).await.unwrap();
        assert!(reason(&v).contains("cut short"), "{be}: {v:?}");
        // Emptied entirely, head reset to the start.
        exec(&store, "DELETE FROM audit_log").await;
        exec(
            &store,
            &format!(
                "UPDATE audit_head SET last_seq = 0, last_hash = '{}' WHERE id = 1",
                linli_store::audit::GENESIS
            ),
        )
        .await;
        assert!(
            reason(&store.audit_verify(Some(&cp)).await.unwrap()).contains("cut short"),
            "{be}"
        );
        // The head row deleted: a verdict, not a database error.
        exec(&store, "DELETE FROM audit_head").await;
        assert!(
            reason(&store.audit_verify(Some(&cp)).await.unwrap())
                .contains("head of the log is missing"),
            "{be}"
        );
        assert!(
            reason(&store.audit_verify(None).await.unwrap()).contains("head of the log is missing")
        );
    })
    .await;
}

#[tokio::test]
async fn entries_put_in_by_hand_to_be_signed_are_caught() {
    each(|store, be| async move {
        some_entries(&store, 6).await;
        let entries = {
            let mut e = store.audit_entries(100).await.unwrap();
            e.reverse();
            e
        };
        // Cut the last three off, roll the head back, and put altered
        // copies among the entries waiting to be chained, for the chainer
        // to sign.
        let third = &entries[2];
        exec(&store, "DELETE FROM audit_log WHERE seq > 3").await;
        exec(&store, &format!("UPDATE audit_head SET last_seq = 3, last_hash = '{}' WHERE id = 1", third.hash)).await;
        for e in &entries[3..] {
            exec(&store, &format!(
                "INSERT INTO audit_pending (id, at, actor, action, object, detail) VALUES ({}, {}, 'someone.else', '{}', '{}', 'nothing to see')",
                e.id, e.at, e.action, e.object
            )).await;
        }
        let v = store.audit_verify(None).await.unwrap();
        assert!(reason(&v).contains("by hand"), "{be}: {v:?}");
        assert_eq!(v.first_broken.unwrap().id, 4, "{be}");
    })
    .await;
}

/// A pending row with the id (and signature) of an entry already chained
/// is chained as a forgery, and the chainer goes on; tables altered so
/// that they cannot be read give a verdict, not a database error.
#[tokio::test]
async fn reused_ids_and_altered_tables_are_verdicts() {
    each(|store, be| async move {
        some_entries(&store, 3).await;
        let first = store.audit_entries(100).await.unwrap().pop().unwrap();
        let sig = linli_store::audit::pending_mac(store.vault(), first.at, &first.actor, &first.action, &first.object, &first.detail);
        exec(&store, &format!(
            "INSERT INTO audit_pending (id, at, actor, action, object, detail, mac) VALUES ({}, {}, '{}', '{}', '{}', '{}', '{sig}')",
            first.id, first.at, first.actor, first.action, first.object, first.detail
        )).await;
        // Later entries are still chained.
        store.audit("tester", "test.after", "x", "").await.unwrap();
        let entries = store.audit_entries(100).await.unwrap();
        assert_eq!(entries[0].action, "test.after", "{be}: the chainer went on");
        let v = store.audit_verify(None).await.unwrap();
        assert!(reason(&v).contains("already chained"), "{be}: {v:?}");

        // A column renamed (or, on SQLite, text where a number belongs).
        let (alter, undo) = if be == "sqlite" {
            ("UPDATE audit_log SET at = 'abc' WHERE seq = 2", "")
        } else {
            ("ALTER TABLE audit_log RENAME COLUMN detail TO detail_x", "ALTER TABLE audit_log RENAME COLUMN detail_x TO detail")
        };
        exec(&store, alter).await;
        let v = store.audit_verify(None).await.unwrap();
        assert!(reason(&v).contains("cannot be read"), "{be}: {v:?}");
        if !undo.is_empty() {
            exec(&store, undo).await;
        }
    })
    .await;
}

#[tokio::test]
async fn entries_deleted_before_chaining_are_caught() {
    each(|store, be| async move {
        some_entries(&store, 3).await;
        store.chain_audit().await.unwrap();
        some_entries(&store, 3).await;
        // Delete the middle one of the pending three before it is chained.
        let ids: Vec<i64> = linli_store::with_db!(&store.db, p => {
            sqlx::query_scalar("SELECT id FROM audit_pending ORDER BY id").fetch_all(p).await.unwrap()
        });
        exec(&store, &format!("DELETE FROM audit_pending WHERE id = {}", ids[1])).await;
        // (On PostgreSQL the deleted one may be the last its counter gave:
        // then it is missing from the end.)
        let v = store.audit_verify(None).await.unwrap();
        let why = reason(&v);
        assert!(
            why.contains("deleted before they were chained")
                || (be == "postgres" && why.contains("missing from the end")),
            "{be}: {v:?}"
        );
    })
    .await;
}

/// On PostgreSQL, entries are numbered by gapless counters: writes that
/// roll back leave no gap (so a sound log still verifies), many writers at
/// once get distinct numbers, and the marker where counting starts cannot
/// be removed unnoticed.
#[tokio::test]
async fn counted_entries_stay_gapless_under_concurrent_and_rolled_back_writes() {
    each(|store, be| async move {
        // Writers at once, some of whose transactions roll back.
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..25 {
                        store.audit("tester", "test.write", &format!("w{w}-{i}"), "").await.unwrap();
                        // A writer whose transaction rolls back after it
                        // recorded its entry (numbered as writers number them).
                        linli_store::with_db!(&store.db, p => {
                            let mut tx = p.begin().await.unwrap();
                            let sql = if be == "postgres" {
                                "WITH n AS (UPDATE audit_counter SET next_no = next_no + 1 WHERE shard = pg_backend_pid() % 16 RETURNING next_no * 16 + shard AS id) \
                                 INSERT INTO audit_pending (id, at, actor, action, object, detail) SELECT id, 0, 'x', 'x', 'x', 'x' FROM n"
                            } else {
                                "INSERT INTO audit_pending (at, actor, action, object, detail) VALUES (0, 'x', 'x', 'x', 'x')"
                            };
                            sqlx::query(sql).execute(&mut *tx).await.unwrap();
                            tx.rollback().await.unwrap();
                        });
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let v = store.audit_verify(None).await.unwrap();
        assert!(v.first_broken.is_none(), "{be}: {v:?}");
        assert!(v.entries >= 200, "{be}: {v:?}");
        if be == "postgres" {
            let ids: Vec<i64> = linli_store::with_db!(&store.db, p => {
                sqlx::query_scalar("SELECT id FROM audit_log WHERE action = 'test.write'").fetch_all(p).await.unwrap()
            });
            let counters: std::collections::HashSet<i64> = ids.iter().map(|id| id % 16).collect();
            assert!(counters.len() > 1, "writers on several connections use several counters: {counters:?}");
            // A counter set back below the entries it gave.
            exec(&store, "UPDATE audit_counter SET next_no = next_no - 1").await;
            let v = store.audit_verify(None).await.unwrap();
            assert!(reason(&v).contains("behind the entries"), "{v:?}");
            exec(&store, "UPDATE audit_counter SET next_no = next_no + 1").await;
            // The marker deleted (and the chain re-linked without the key
            // cannot hide it): the verdict names it.
            exec(&store, "DELETE FROM audit_log WHERE action = 'audit.counted_ids'").await;
            let v = store.audit_verify(None).await.unwrap();
            assert!(v.first_broken.is_some(), "{v:?}");
        }
    })
    .await;
}

/// The id counter set back below the entries it gave (SQLite's
/// `sqlite_sequence`, PostgreSQL's `audit_counter`) is a verdict.
#[tokio::test]
async fn an_id_counter_set_back_is_caught() {
    each(|store, be| async move {
        some_entries(&store, 4).await;
        assert!(
            store
                .audit_verify(None)
                .await
                .unwrap()
                .first_broken
                .is_none(),
            "{be}"
        );
        exec(
            &store,
            if be == "sqlite" {
                "UPDATE sqlite_sequence SET seq = 1 WHERE name = 'audit_pending'"
            } else {
                "UPDATE audit_counter SET next_no = next_no - 1"
            },
        )
        .await;
        let v = store.audit_verify(None).await.unwrap();
        assert!(reason(&v).contains("behind the entries"), "{be}: {v:?}");
    })
    .await;
}
