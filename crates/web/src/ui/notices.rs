//! A person's notifications (通知): the bell's unread count, the list,
//! and their choice of what they are told and whether by SMS/WeChat.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use linli_core::ids::AccountId;
use linli_core::notify::Topic;
use linli_store::notify::Notification;

use super::cases::beijing;
use super::{Chrome, PageCtx, PageError, render};
use crate::AppState;
use crate::error::Path;

#[derive(Template)]
#[template(path = "notifications.html")]
struct NoticesPage {
    c: Chrome,
    items: Vec<Notification>,
    /// The role's topics: (code, label, received).
    topics: Vec<(&'static str, &'static str, bool)>,
    gateway: bool,
    gateway_set: bool,
    saved: bool,
}

impl NoticesPage {
    fn when(&self, ms: &i64) -> String {
        beijing(*ms)
    }
    fn text<'a>(&self, n: &'a Notification) -> &'a str {
        if self.c.l.en {
            &n.message_en
        } else {
            &n.message_zh
        }
    }
}

#[derive(Template)]
#[template(path = "bell.html")]
struct Bell {
    label: &'static str,
    unread: i64,
}

async fn page(s: &AppState, ctx: &PageCtx, saved: bool) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let choice = s.store.notify_choice(v.account.id, v.role()).await?;
    let topics = Topic::for_role(v.role())
        .into_iter()
        .map(|t| {
            (
                t.code(),
                ctx.l.t(t.label_zh(), t.label_en()),
                choice.topics.iter().any(|c| c == t.code()),
            )
        })
        .collect();
    render(NoticesPage {
        c: ctx.chrome(ctx.l.t("通知", "Notifications")),
        items: s.store.notifications(v.account.id, 100).await?,
        topics,
        gateway: choice.gateway,
        gateway_set: s.store.notify_gateway().await?.is_some(),
        saved,
    })
}

pub async fn list(State(s): State<AppState>, ctx: PageCtx) -> Result<Response, PageError> {
    page(&s, &ctx, false).await
}

/// The header's bell: the unread count, refreshed every minute.
pub async fn bell(State(s): State<AppState>, ctx: PageCtx) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    render(Bell {
        label: ctx.l.t("通知", "Notifications"),
        unread: s.store.unread_notifications(v.account.id).await?,
    })
}

/// Opens a notice: marked read, then its case.
pub async fn open(
    State(s): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let to = match s.store.mark_read(AccountId(v.account.id), Some(id)).await? {
        Some(case) => format!("/cases/{case}"),
        None => "/notifications".to_string(),
    };
    Ok(Redirect::to(&to).into_response())
}

/// Marks every notice read.
pub async fn read_all(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    s.store.mark_read(AccountId(v.account.id), None).await?;
    Ok(Redirect::to("/notifications").into_response())
}

/// Saves what the person wants to be told, and whether by the gateway.
pub async fn save_choice(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, x)| x.as_str());
    v.check_csrf(get("_csrf"))?;
    let wanted: Vec<Topic> = f
        .iter()
        .filter(|(k, _)| k == "topic")
        .filter_map(|(_, t)| Topic::parse(t))
        .collect();
    s.store
        .save_notify_choice(v.account.id, v.role(), &wanted, get("gateway") == Some("1"))
        .await?;
    page(&s, &ctx, true).await
}
