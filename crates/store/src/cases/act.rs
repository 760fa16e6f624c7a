//! A step of the closed loop on one case: decided by
//! [`linli_core::case::apply`], timed by [`linli_core::deadline`], written
//! with its timeline entry, audit entry, rollup delta and webhook in one
//! transaction, guarded by the version the actor saw.

use chrono::{DateTime, Utc};
use linli_core::case::{self, Action, State};
use linli_core::deadline::{self, Clocks, Terms};
use linli_core::ids::CaseId;

use super::{CaseView, facts_of, ms, step_error};
use crate::audit::append_in_tx;
use crate::db::BeginWrite;
use crate::outbox::enqueue_in_tx;
use crate::rates::{figures_of, rollup_change, rollup_in_tx};
use crate::{Result, Scope, Store, StoreError, with_db};

impl Store {
    /// Takes one step on a case. `version` must be the version the caller
    /// saw: of two people acting at once exactly one wins, the other gets a
    /// conflict and sees the new state.
    pub async fn act(
        &self,
        scope: &Scope,
        actor: &str,
        id: CaseId,
        version: i64,
        action: &Action,
    ) -> Result<CaseView> {
        self.act_at(scope, actor, id, version, action, Utc::now())
            .await
    }

    pub async fn act_at(
        &self,
        scope: &Scope,
        actor: &str,
        id: CaseId,
        version: i64,
        action: &Action,
        now: DateTime<Utc>,
    ) -> Result<CaseView> {
        self.act_given(scope, actor, id.0, version, action, now, None)
            .await
    }

    /// A step, with a handling deadline given from outside (a 12345
    /// ticket's 办理时限) for the clock it may start.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn act_given(
        &self,
        scope: &Scope,
        actor: &str,
        id: i64,
        version: i64,
        action: &Action,
        now: DateTime<Utc>,
        given_due: Option<i64>,
    ) -> Result<CaseView> {
        let current = self.case_plain(scope, id).await?;
        if current.row.version != version {
            return Err(StoreError::conflict(
                format!(
                    "case {} changed (version {} now, you had {version}); reload it",
                    current.row.code, current.row.version
                ),
                format!(
                    "工单 {} 刚被他人办理过，请刷新页面后再操作",
                    current.row.code
                ),
            ));
        }
        let before = facts_of(&current.row)?;
        let mut action = action.clone();
        // Dispatch to unit 0 means "by the rules".
        if let Action::Dispatch { unit } = &mut action {
            let cat = before.category.clone().unwrap_or_default();
            if *unit == 0 {
                *unit = self
                    .suggest_unit(&current.row.scope_path, &cat)
                    .await?
                    .map(|u| u.id)
                    .ok_or_else(|| StoreError::invalid(
                        "unit",
                        "no dispatch rule or unit of the right kind serves this place; choose a unit",
                        "没有派单规则或合适的承办单位负责此处，请选择承办单位",
                    ))?;
            } else if !self.units(scope).await?.iter().any(|u| u.id == *unit) {
                return Err(StoreError::invalid(
                    "unit",
                    format!("unit {unit} does not serve your area"),
                    "所选承办单位不负责您的辖区",
                ));
            }
        }
        if let Action::Classify { category } = &action {
            self.leaf_category(category).await?;
        }
        if let Action::ReportBack { photos, .. } | Action::Supplement { photos, .. } = &action {
            let uploaded: Vec<String> = self
                .photos(scope, id)
                .await?
                .iter()
                .map(|p| p.url())
                .collect();
            for p in photos {
                let p = p.trim();
                let external = p.starts_with("https://") || p.starts_with("http://");
                if !external && !uploaded.iter().any(|u| u == p) {
                    return Err(StoreError::invalid(
                        "photos",
                        format!(
                            "'{p}' is neither a photo uploaded to this case (POST /api/v1/cases/{id}/photos) nor an http(s) URL"
                        ),
                        format!("“{p}”既不是本工单已上传的照片，也不是网址"),
                    ));
                }
            }
        }
        if let Action::Merge { parent } = &action {
            if *parent == id {
                return Err(StoreError::invalid(
                    "parent",
                    "a case cannot be merged into itself",
                    "工单不能合并到它自己",
                ));
            }
            let p = self.case_plain(scope, *parent).await.map_err(|e| {
                e.when_missing(|| {
                    StoreError::invalid(
                        "parent",
                        format!("no case {parent} in your area"),
                        "您的范围内没有这个工单",
                    )
                })
            })?;
            if matches!(
                State::parse(&p.row.state),
                Some(State::Merged | State::Refused)
            ) {
                return Err(StoreError::invalid(
                    "parent",
                    format!(
                        "case {} is {} and cannot take duplicates",
                        p.row.code, p.row.state
                    ),
                    format!("工单 {} 已{}，不能作为主工单", p.row.code, p.state_zh),
                ));
            }
        }
        let outcome = case::apply(&before, &action).map_err(step_error)?;
        let after = outcome.facts;
        let t = ms(now);
        let category = match &after.category {
            Some(c) => Some(self.leaf_category(c).await?),
            None => None,
        };
        // Only a new or moved deadline clears the overdue mark; the scan may
        // have set it since the case was read, so it is not written back.
        let timed = deadline::apply_effects(
            Clocks {
                response_due: current.row.response_due,
                due_at: current.row.due_at,
                responded_at: current.row.responded_at,
                closed_at: current.row.closed_at,
            },
            &outcome.effects,
            &self.calendar(),
            current.row.created_at,
            t,
            Terms {
                response_hours: category.as_ref().and_then(|c| c.response_hours),
                limit: category.as_ref().and_then(|c| c.limit),
                given_due,
            },
        )
        .map_err(step_error)?;
        let Clocks {
            response_due,
            due_at,
            responded_at,
            closed_at,
        } = timed.clocks;
        let clear_overdue = timed.clear_overdue;
        // The action as sent, with any ID number or phone in its text masked
        // like the note (the original is sealed with the note).
        let data = linli_core::mask::redact(
            &serde_json::to_string(&action).unwrap_or_else(|_| "{}".into()),
        )
        .text;
        let webhook = match (&action, after.unit) {
            (Action::Dispatch { .. }, Some(u)) => self
                .units_by_id(&[u])
                .await?
                .into_iter()
                .next()
                .and_then(|x| x.webhook_url),
            _ => None,
        };
        let code = current.row.code.clone();
        let notices = self
            .notices_for(
                actor,
                &action,
                after.state,
                (id, &code),
                &current.row.scope_path,
                after.unit,
                current.row.reporter_account,
            )
            .await?;
        let mut next = current.row.clone();
        next.state = after.state.code().to_string();
        next.unit_id = after.unit;
        next.category_code = after.category.clone();
        next.resolution = after.resolution.map(|r| r.code().to_string());
        next.rating = after.rating.map(|r| r.code().to_string());
        next.response_due = response_due;
        next.due_at = due_at;
        next.responded_at = responded_at;
        next.closed_at = closed_at;
        next.rework_count = after.rework_count as i32;
        next.extension_count = after.extension_count as i32;
        let rollup = rollup_change(Some(&figures_of(&current.row)), Some(&figures_of(&next)));
        // ID numbers and phones typed into a note are masked in the
        // timeline and the audit log; the original is sealed.
        let note = linli_core::mask::redact(action.note());
        let sealed_note = (note.found > 0).then(|| {
            self.vault()
                .seal(crate::vault::Field::FreeText, action.note())
        });
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE service_case SET state = $1, level = $2, category_code = $3, unit_id = $4, parent_id = $5, resolution = $6, rating = $7,
                    extension_pending = $8, rework_count = $9, reopen_count = $10, supervision_count = $11, extension_count = $12,
                    escalation_count = $13, response_due = $14, due_at = $15, responded_at = $16, closed_at = $17,
                    overdue_at = CASE WHEN $18 = 1 THEN NULL ELSE overdue_at END,
                    version = version + 1, updated_at = $19
                 WHERE id = $20 AND version = $21",
            )
            .bind(after.state.code()).bind(after.level.code()).bind(&after.category).bind(after.unit).bind(after.parent)
            .bind(after.resolution.map(|r| r.code()))
            .bind(after.rating.map(|r| r.code()))
            .bind(after.extension_pending.map(|d| d as i32))
            .bind(after.rework_count as i32).bind(after.reopen_count as i32).bind(after.supervision_count as i32)
            .bind(after.extension_count as i32).bind(after.escalation_count as i32)
            .bind(response_due).bind(due_at).bind(responded_at).bind(closed_at).bind(i32::from(clear_overdue))
            .bind(t).bind(id).bind(version)
            .execute(&mut *tx).await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::conflict(
                    format!("case {code} was changed by someone else just now; reload it"),
                    format!("工单 {code} 刚被他人办理过，请刷新页面后再操作"),
                ));
            }
            let event_id: i64 = sqlx::query_scalar("INSERT INTO case_event (case_id, action, from_state, to_state, actor, note, data, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
                .bind(id).bind(action.kind().code()).bind(before.state.code()).bind(after.state.code())
                .bind(actor).bind(&note.text).bind(&data).bind(t)
                .fetch_one(&mut *tx).await?;
            if let Some(blob) = &sealed_note {
                sqlx::query("INSERT INTO sealed_text (case_id, event_id, field, sealed) VALUES ($1, $2, 'note', $3)")
                    .bind(id).bind(event_id).bind(blob).execute(&mut *tx).await?;
            }
            if let Some(url) = &webhook {
                let payload = serde_json::json!({"event": "case.dispatched", "case_id": id, "code": code, "unit_id": after.unit, "at": t}).to_string();
                enqueue_in_tx!(tx, "case.dispatched", url, &payload, t);
            }
            crate::notify::notify_in_tx!(tx, &notices, id, t);
            append_in_tx!(tx, self.vault(), actor, &format!("case.{}", action.kind().code()), &format!("case:{id}"), &note.text);
            rollup_in_tx!(tx, rollup.iter());
            tx.commit().await?;
        });
        self.case(scope, id).await
    }
}
