//! The audit log for auditors and administrators: the newest entries, and
//! on request a walk of the whole hash chain that names the first broken
//! link.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use linli_store::Scope;
use linli_store::audit::{AuditEntry, Verification};

use super::cases::beijing;
use super::{Chrome, PageCtx, PageError, render};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    entries: Vec<AuditEntry>,
    verification: Option<Verification>,
    actors: HashMap<String, String>,
}

impl AuditPage {
    fn when(&self, ms: &i64) -> String {
        beijing(*ms)
    }
    fn actor<'a>(&'a self, actor: &'a str) -> &'a str {
        self.actors.get(actor).map_or(actor, String::as_str)
    }
    fn action(&self, action: &str) -> String {
        let (zh, en) = linli_core::actor::audit_action_label(action);
        if self.c.l.en { en } else { zh }
    }
    fn short(&self, hash: &str) -> String {
        hash.chars().take(12).collect()
    }
}

pub async fn audit_log(
    State(s): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    // The log spans every area: whole-tree viewers only.
    if v.caller.scope != Scope::Everything {
        return Err(AppError::forbidden(
            "the audit log is for whole-district accounts",
            "审计日志只供全区账号查看",
        )
        .into());
    }
    let verification = if q.get("verify").is_some_and(|x| x == "1") {
        Some(s.verify_audit().await?)
    } else {
        None
    };
    let entries = s.store.audit_entries(200).await?;
    let actors: Vec<&str> = entries.iter().map(|e| e.actor.as_str()).collect();
    let actors = super::actor_labels(&s, ctx.l, &actors).await?;
    render(AuditPage {
        c: ctx.chrome(ctx.l.t("审计日志", "Audit log")),
        entries,
        verification,
        actors,
    })
}
