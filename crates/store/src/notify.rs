//! Notifications (通知): who is told of a step is decided by
//! [`linli_core::notify`]; here the accounts are found, their choices
//! applied, and the notices written in the step's own transaction (with a
//! signed webhook to the district's SMS/WeChat gateway for those who chose
//! it). Each person reads and clears their own.

use linli_core::access::Role;
use linli_core::case::{Action, State};
use linli_core::ids::AccountId;
use linli_core::notify::{Audience, Topic, after_step, follower_message, message, staff_who_may};
use serde::Serialize;

use crate::db::{BeginWrite, now_ms, placeholders};
use crate::{Result, Store, StoreError, with_db};

/// A notice to write with a step: to whom, what.
#[derive(Debug, Clone)]
pub(crate) struct Notice {
    pub account_id: i64,
    pub username: String,
    pub topic: Topic,
    pub zh: String,
    pub en: String,
    /// Also through the gateway (the person chose it, and one is set).
    pub gateway: Option<String>,
}

impl Notice {
    /// The notice of `topic` for an account (id, user name, muted topics,
    /// gateway choice); none when the person muted the topic.
    fn of(
        Notifiable {
            id: account_id,
            username,
            notify_muted: muted,
            notify_gateway: by_gateway,
        }: Notifiable,
        topic: Topic,
        (zh, en): &(String, String),
        gateway: &Option<String>,
    ) -> Option<Notice> {
        if muted.split(',').any(|m| m == topic.code()) {
            return None;
        }
        Some(Notice {
            account_id,
            username,
            topic,
            zh: zh.clone(),
            en: en.clone(),
            gateway: gateway.clone().filter(|_| by_gateway != 0),
        })
    }
}

/// A notice as its reader sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Notification {
    pub id: i64,
    pub case_id: Option<i64>,
    pub topic: String,
    pub message_zh: String,
    pub message_en: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

/// A person's choice of what they are told.
#[derive(Debug, Clone, Serialize)]
pub struct NotifyChoice {
    /// The topics they receive, of those their role is offered.
    pub topics: Vec<String>,
    /// Whether the gateway (SMS/WeChat) reaches them too.
    pub gateway: bool,
}

/// The setting that holds the gateway's webhook URL.
const GATEWAY: &str = "notify.gateway_url";

/// Writes the notices in a transaction `$tx` and queues the gateway's
/// deliveries beside them.
macro_rules! notify_in_tx {
    ($tx:expr, $notices:expr, $case_id:expr, $at:expr) => {{
        for n in $notices {
            sqlx::query("INSERT INTO notification (account_id, case_id, topic, message_zh, message_en, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(n.account_id).bind($case_id).bind(n.topic.code()).bind(&n.zh).bind(&n.en).bind($at)
                .execute(&mut *$tx).await?;
            if let Some(url) = &n.gateway {
                let payload = serde_json::json!({
                    "event": "notification", "account": n.username, "topic": n.topic.code(),
                    "case_id": $case_id, "message_zh": n.zh, "message_en": n.en, "at": $at,
                }).to_string();
                $crate::outbox::enqueue_in_tx!($tx, "notification", url, &payload, $at);
            }
        }
    }};
}
pub(crate) use notify_in_tx;

/// An account a notice may go to, with its choices.
#[derive(sqlx::FromRow)]
struct Notifiable {
    id: i64,
    username: String,
    /// Topics it has turned off, comma-separated.
    notify_muted: String,
    /// 1: relay its notices to the gateway too.
    notify_gateway: i32,
}

impl Store {
    /// The notices of a step just decided: the accounts the rules name
    /// (the reporter, the unit's handlers, the staff of the place who may
    /// act), less the one who took it and those who muted the topic.
    #[expect(clippy::too_many_arguments, reason = "the facts of one step, named")]
    pub(crate) async fn notices_for(
        &self,
        actor: &str,
        action: &Action,
        after: State,
        (case_id, code): (i64, &str),
        scope_path: &str,
        unit: Option<i64>,
        reporter: Option<i64>,
    ) -> Result<Vec<Notice>> {
        let rules = after_step(action, after);
        if rules.is_empty() {
            return Ok(Vec::new());
        }
        let gateway = self.gateway_url().await?;
        let mut out: Vec<Notice> = Vec::new();
        for (audience, topic) in rules {
            let text = message(topic, code, action.kind().code(), after);
            let accounts = match audience {
                Audience::Reporter => {
                    // The reporter, and the residents who joined the case
                    // (told as such).
                    let them = match reporter {
                        Some(id) => self.notifiable("id = $1", &[], Some(id)).await?,
                        None => Vec::new(),
                    };
                    let followers = self
                        .notifiable(
                            "id IN (SELECT account_id FROM case_follower WHERE case_id = $1)",
                            &[],
                            Some(case_id),
                        )
                        .await?;
                    let said = follower_message(code, action.kind().code(), after);
                    for a in followers {
                        let skip = reporter == Some(a.id)
                            || actor == format!("account:{}", a.username)
                            || out.iter().any(|n| n.account_id == a.id && n.topic == topic);
                        if !skip {
                            out.extend(Notice::of(a, topic, &said, &gateway));
                        }
                    }
                    them
                }
                Audience::UnitHandlers => match unit {
                    Some(u) => {
                        self.notifiable("role = 'unit_handler' AND unit_id = $1", &[], Some(u))
                            .await?
                    }
                    None => Vec::new(),
                },
                Audience::StaffWhoMay(kind) => {
                    let roles: Vec<String> = staff_who_may(kind)
                        .iter()
                        .map(|r| r.code().to_string())
                        .collect();
                    let mut places = linli_core::dispatch::ancestor_paths(scope_path);
                    let n = roles.len();
                    let cond = format!(
                        "role IN ({}) AND scope_path IN ({})",
                        placeholders(1, n),
                        placeholders(n + 1, places.len())
                    );
                    let mut args = roles;
                    args.append(&mut places);
                    self.notifiable(&cond, &args, None).await?
                }
            };
            for a in accounts {
                if actor == format!("account:{}", a.username)
                    || out.iter().any(|n| n.account_id == a.id && n.topic == topic)
                {
                    continue;
                }
                out.extend(Notice::of(a, topic, &text, &gateway));
            }
        }
        Ok(out)
    }

    /// The gateway's address, read once for a step or a scan.
    pub(crate) async fn gateway_url(&self) -> Result<Option<String>> {
        self.json_setting::<Option<String>>(GATEWAY, "notification gateway")
            .await
    }

    /// The notices of a case gone overdue: its unit's handlers.
    pub(crate) async fn overdue_notices(
        &self,
        unit: Option<i64>,
        code: &str,
        gateway: &Option<String>,
    ) -> Result<Vec<Notice>> {
        let Some(u) = unit else {
            return Ok(Vec::new());
        };
        let text = message(Topic::Overdue, code, "overdue", State::Handling);
        Ok(self
            .notifiable("role = 'unit_handler' AND unit_id = $1", &[], Some(u))
            .await?
            .into_iter()
            .filter_map(|a| Notice::of(a, Topic::Overdue, &text, gateway))
            .collect())
    }

    /// Enabled accounts meeting `cond` (text arguments `args` from $1, or
    /// one integer `$1`): id, user name, muted topics, gateway choice.
    async fn notifiable(
        &self,
        cond: &str,
        args: &[String],
        int: Option<i64>,
    ) -> Result<Vec<Notifiable>> {
        let sql = format!(
            "SELECT id, username, notify_muted, notify_gateway FROM account WHERE {cond} AND disabled_at IS NULL LIMIT 1000"
        );
        Ok(with_db!(&self.db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            if let Some(i) = int {
                q = q.bind(i);
            }
            for a in args {
                q = q.bind(a.clone());
            }
            q.fetch_all(pool).await?
        }))
    }

    /// A person's newest notices, unread first is not imposed: newest first.
    pub async fn notifications(&self, account_id: i64, limit: i64) -> Result<Vec<Notification>> {
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, case_id, topic, message_zh, message_en, created_at, read_at FROM notification WHERE account_id = $1 ORDER BY id DESC LIMIT $2")
                .bind(account_id).bind(limit.clamp(1, 500)).fetch_all(pool).await?
        }))
    }

    /// How many of a person's notices are unread.
    pub async fn unread_notifications(&self, account_id: i64) -> Result<i64> {
        Ok(with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM notification WHERE account_id = $1 AND read_at IS NULL")
                .bind(account_id).fetch_one(pool).await?
        }))
    }

    /// Marks one of a person's notices read (its case, to go to), or all
    /// of them (`None`). Another person's notice is not found.
    pub async fn mark_read(&self, account_id: AccountId, id: Option<i64>) -> Result<Option<i64>> {
        let account_id = account_id.0;
        let now = now_ms();
        match id {
            Some(id) => {
                let case: Option<Option<i64>> = with_db!(&self.db, pool => {
                    let mut tx = pool.begin_write().await?;
                    let case = sqlx::query_scalar("SELECT case_id FROM notification WHERE id = $1 AND account_id = $2")
                        .bind(id).bind(account_id).fetch_optional(&mut *tx).await?;
                    sqlx::query("UPDATE notification SET read_at = $1 WHERE id = $2 AND account_id = $3 AND read_at IS NULL")
                        .bind(now).bind(id).bind(account_id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    case
                });
                case.ok_or_else(|| StoreError::NotFound(format!("notification {id}")))
            }
            None => {
                with_db!(&self.db, pool => {
                    sqlx::query("UPDATE notification SET read_at = $1 WHERE account_id = $2 AND read_at IS NULL")
                        .bind(now).bind(account_id).execute(pool).await?;
                });
                Ok(None)
            }
        }
    }

    /// A person's choice of what they are told (all of their role's
    /// topics unless muted).
    pub async fn notify_choice(&self, account_id: i64, role: Role) -> Result<NotifyChoice> {
        let (muted, gateway): (String, i32) = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT notify_muted, notify_gateway FROM account WHERE id = $1")
                .bind(account_id).fetch_one(pool).await?
        });
        Ok(NotifyChoice {
            topics: Topic::for_role(role)
                .into_iter()
                .filter(|t| !muted.split(',').any(|m| m == t.code()))
                .map(|t| t.code().to_string())
                .collect(),
            gateway: gateway != 0,
        })
    }

    /// Saves a person's choice: the topics of their role they receive
    /// (the others are muted) and whether the gateway reaches them.
    pub async fn save_notify_choice(
        &self,
        account_id: i64,
        role: Role,
        wanted: &[Topic],
        gateway: bool,
    ) -> Result<()> {
        let muted: Vec<&str> = Topic::for_role(role)
            .into_iter()
            .filter(|t| !wanted.contains(t))
            .map(Topic::code)
            .collect();
        with_db!(&self.db, pool => {
            sqlx::query("UPDATE account SET notify_muted = $1, notify_gateway = $2 WHERE id = $3")
                .bind(muted.join(",")).bind(i32::from(gateway)).bind(account_id).execute(pool).await?;
        });
        Ok(())
    }

    /// The gateway that relays notices by SMS or WeChat (a webhook URL),
    /// if one is set.
    pub async fn notify_gateway(&self) -> Result<Option<String>> {
        self.json_setting(GATEWAY, "notification gateway").await
    }

    /// Sets (or clears) the gateway: http(s), not a link-local address.
    pub async fn set_notify_gateway(&self, actor: &str, url: Option<&str>) -> Result<()> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        if let Some(u) = url {
            linli_core::dispatch::check_webhook_url(u)
                .map_err(|m| StoreError::invalid_msg("url", m))?;
        }
        self.save_json_setting(
            actor,
            GATEWAY,
            &url,
            "notify_gateway.set",
            url.unwrap_or(""),
        )
        .await
    }
}
