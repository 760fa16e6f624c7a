//! Reading cases: one by id or code (then checked against the scope), a
//! filtered page of a scope's cases, a case's timeline.

use super::{CASE_SELECT, CaseEvent, CaseFilter, CaseRow, CaseView, id_from_code, view};
use crate::db::now_ms;
use crate::{Result, Scope, Store, StoreError, with_db};

impl Store {
    /// One case in scope. Fetched by its key alone and then checked
    /// against the scope: a range condition beside the key lets a generic
    /// PostgreSQL plan scan the whole area instead.
    pub async fn case(&self, scope: &Scope, id: i64) -> Result<CaseView> {
        let v = self.case_plain(scope, id).await?;
        self.with_grid_staff(v).await
    }

    /// As [`Store::case`] without the grid's staff: for checks before a write.
    pub(crate) async fn case_plain(&self, scope: &Scope, id: i64) -> Result<CaseView> {
        let sql = format!("{CASE_SELECT} WHERE c.id = $1");
        let row: Option<CaseRow> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        match row {
            Some(r) if scope.covers_case(&r.scope_path, r.unit_id, r.reporter_account) => {
                view(r, now_ms())
            }
            _ => Err(StoreError::NotFound(format!("case {id}"))),
        }
    }

    async fn with_grid_staff(&self, mut v: CaseView) -> Result<CaseView> {
        if let Some(g) = v.row.grid_id {
            // Whoever sees the case sees who serves its grid.
            v.grid_staff = self.posts(&Scope::Everything, Some(g), None).await?;
        }
        Ok(v)
    }

    /// A case by its code (GD…), in scope.
    pub async fn case_by_code(&self, scope: &Scope, code: &str) -> Result<CaseView> {
        let not_found = || StoreError::NotFound(format!("case {}", code.trim()));
        let id = id_from_code(code).ok_or_else(not_found)?;
        let c = self
            .case(scope, id)
            .await
            .map_err(|e| e.when_missing(not_found))?;
        if c.row.code != code.trim() {
            return Err(not_found());
        }
        Ok(c)
    }

    /// The timeline of a case in scope, oldest first.
    pub async fn timeline(&self, scope: &Scope, id: i64) -> Result<Vec<CaseEvent>> {
        self.case(scope, id).await?;
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, case_id, action, from_state, to_state, actor, note, data, at FROM case_event WHERE case_id = $1 ORDER BY id")
                .bind(id).fetch_all(pool).await?
        }))
    }

    /// Cases in scope, newest first.
    pub async fn cases(&self, scope: &Scope, f: &CaseFilter) -> Result<Vec<CaseView>> {
        // Record-level scopes: the whole tree, narrowed to the unit's or
        // the reporter's cases (a filter on another unit finds nothing).
        let mut f = f.clone();
        let mut reporter = 0i64;
        let (lo, hi) = match scope {
            Scope::Unit(u) => {
                if f.unit_id.is_some_and(|x| x != *u) {
                    return Ok(Vec::new());
                }
                f.unit_id = Some(*u);
                Scope::Everything.bounds()
            }
            Scope::Reporter(a) => {
                reporter = *a;
                Scope::Everything.bounds()
            }
            _ => scope.bounds(),
        };
        let now = now_ms();
        let limit = if f.limit <= 0 { 50 } else { f.limit.min(500) };
        let open_states =
            "('registered','classified','opened','dispatched','handling','reported_back')";
        let sql = format!(
            "{CASE_SELECT} WHERE c.scope_path >= $1 AND c.scope_path < $2
               AND ($3 = '' OR c.state = $3) AND ($4 = '' OR c.category_code = $4 OR cat.parent_code = $4)
               AND ($5 = 0 OR c.grid_id = $5) AND ($6 = 0 OR c.unit_id = $6)
               AND ($7 = 0 OR (c.state IN {open_states} AND (c.due_at < $8 OR c.overdue_at IS NOT NULL)))
               AND ($9 = '' OR c.channel = $9)
               AND c.created_at >= $10 AND c.created_at < $11
               AND ($14 = 0 OR c.reporter_account = $14)
               AND ($15 = 0 OR c.id < $15)
             ORDER BY c.id DESC LIMIT $12 OFFSET $13"
        );
        let rows: Vec<CaseRow> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(lo).bind(hi)
                .bind(f.state.map(|s| s.code()).unwrap_or(""))
                .bind(f.category.clone().unwrap_or_default())
                .bind(f.grid_id.unwrap_or(0)).bind(f.unit_id.unwrap_or(0))
                .bind(i32::from(f.overdue)).bind(now)
                .bind(f.channel.clone().unwrap_or_default())
                .bind(f.created_from.unwrap_or(0)).bind(f.created_to.unwrap_or(i64::MAX))
                .bind(limit).bind(f.offset.max(0)).bind(reporter).bind(f.before_id.unwrap_or(0))
                .fetch_all(pool).await?
        });
        rows.into_iter().map(|r| view(r, now)).collect()
    }
}

/// What a case's masked text was, for those who may unmask.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseOriginals {
    /// The reporter's phone in full.
    pub reporter_phone: Option<String>,
    /// Free text in which ID numbers or phones were masked, as written:
    /// the field (title, description, address, note) and, for a note, the
    /// timeline entry it belongs to.
    pub texts: Vec<OriginalText>,
    pub audit_id: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OriginalText {
    pub field: String,
    pub event_id: Option<i64>,
    pub text: String,
}

impl Store {
    /// A case's personal data in full: the reporter's phone and the
    /// originals of masked free text. Needs a reason; the audit entry is
    /// written, in the same transaction as the read, before anything is
    /// returned.
    pub async fn case_originals(
        &self,
        scope: &Scope,
        id: i64,
        actor: &str,
        reason: &str,
    ) -> Result<CaseOriginals> {
        use crate::audit::append_in_tx;
        use crate::db::BeginWrite;
        use crate::vault::Field;
        let reason = crate::audit::check_reason(reason)?;
        self.case_plain(scope, id).await?;
        type Sealed = (String, Option<i64>, Vec<u8>);
        let (audit_id, phone, sealed): (i64, Option<Vec<u8>>, Vec<Sealed>) = with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let audit_id = append_in_tx!(tx, self.vault(), actor, "case.view_unmasked", &format!("case:{id}"), reason.trim());
            let phone: Option<Vec<u8>> = sqlx::query_scalar("SELECT reporter_phone_enc FROM service_case WHERE id = $1")
                .bind(id).fetch_one(&mut *tx).await?;
            let sealed: Vec<Sealed> = sqlx::query_as("SELECT field, event_id, sealed FROM sealed_text WHERE case_id = $1 ORDER BY id")
                .bind(id).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            (audit_id, phone, sealed)
        });
        let mut texts = Vec::with_capacity(sealed.len());
        for (field, event_id, blob) in sealed {
            texts.push(OriginalText {
                field,
                event_id,
                text: self.vault().open(Field::FreeText, &blob)?,
            });
        }
        Ok(CaseOriginals {
            reporter_phone: phone
                .map(|p| self.vault().open(Field::Phone, &p))
                .transpose()?,
            texts,
            audit_id,
        })
    }
}
