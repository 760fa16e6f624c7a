use super::*;

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
        // The store does not lock the account (the web layer holds a name
        // back per address): its owner can still sign in.
        assert!(
            store.login("wang", "夫子庙-社区-2026", t + 1).await.is_ok(),
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
