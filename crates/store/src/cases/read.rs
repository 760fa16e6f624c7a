//! Reading cases: one by id or code (then checked against the scope), a
//! filtered page of a scope's cases, a case's timeline.

use super::{CASE_SELECT, CaseEvent, CaseFilter, CaseRow, CaseView, id_from_code, view};
use crate::db::{Conditions, now_ms};
use crate::{Result, Scope, Store, StoreError, bind_args, with_db};

impl Store {
    /// One case in scope. Fetched by its key alone and then checked
    /// against the scope: a range condition beside the key lets a generic
    /// PostgreSQL plan scan the whole area instead.
    pub async fn case(&self, scope: &Scope, id: i64) -> Result<CaseView> {
        let (v, follower) = self.case_seen(scope, id).await?;
        if follower {
            return Ok(v);
        }
        self.with_grid_staff(v).await
    }

    /// A case a caller may read: in scope, or (a resident) one they joined
    /// (我也遇到), then only as a follower sees it: its category, state,
    /// unit and dates, none of another resident's text, place or name
    /// ([`CaseView::for_follower`]). Steps are checked with
    /// [`Store::case_plain`], which a join does not open.
    pub(crate) async fn case_seen(&self, scope: &Scope, id: i64) -> Result<(CaseView, bool)> {
        match (self.case_plain(scope, id).await, scope) {
            (Err(StoreError::NotFound(m)), Scope::Reporter(a)) => {
                if self.follows(*a, id).await? {
                    let v = self.case_plain(&Scope::Everything, id).await?;
                    Ok((v.for_follower(), true))
                } else {
                    Err(StoreError::NotFound(m))
                }
            }
            (r, _) => r.map(|v| (v, false)),
        }
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
        let (_, follower) = self.case_seen(scope, id).await?;
        let events: Vec<CaseEvent> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, case_id, action, from_state, to_state, actor, note, data, at FROM case_event WHERE case_id = $1 ORDER BY id")
                .bind(id).fetch_all(pool).await?
        });
        // A follower sees the steps and when, not who wrote what.
        Ok(if follower {
            events
                .into_iter()
                .map(|e| CaseEvent {
                    actor: String::new(),
                    note: String::new(),
                    data: "{}".into(),
                    ..e
                })
                .collect()
        } else {
            events
        })
    }

    /// Cases in scope, newest first: a page of at most 500, after
    /// `before_id` when given (keyset paging), else after `offset` rows
    /// (at most [`MAX_OFFSET`]). Reads an amount of data that follows the
    /// page and the area's own cases, never the whole city: see [`Lead`].
    pub async fn cases(&self, scope: &Scope, f: &CaseFilter) -> Result<Vec<CaseView>> {
        let now = now_ms();
        let limit = if f.limit <= 0 { 50 } else { f.limit.min(500) };
        if f.offset > MAX_OFFSET {
            return Err(StoreError::invalid(
                "offset",
                format!("is more than {MAX_OFFSET}: page on with before (the last id of the page)"),
                format!("翻页偏移不能超过{MAX_OFFSET}，请缩小筛选范围"),
            ));
        }
        let Some(mut q) = self.case_query(scope, f, now).await? else {
            return Ok(Vec::new());
        };
        let (lim, off) = (q.w.int(limit), q.w.int(f.offset.max(0)));
        // The page's ids first, by the chosen index alone; then their rows
        // with the names joined in.
        let (from, order) = (&q.from, q.order);
        let sql = format!(
            "{CASE_SELECT} WHERE c.id IN (SELECT c.id FROM {from}{} ORDER BY {order} LIMIT {lim} OFFSET {off}) ORDER BY {order}",
            q.w.where_sql()
        );
        let rows: Vec<CaseRow> = with_db!(&self.db, pool => {
            bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &q.w.args).fetch_all(pool).await?
        });
        rows.into_iter().map(|r| view(r, now)).collect()
    }

    /// How many cases the list `f` holds, counted up to `cap` (a district's
    /// history holds millions; a page says "10,000+" rather than count
    /// them all). Returns the count and whether it reached the cap.
    pub async fn count_cases(
        &self,
        scope: &Scope,
        f: &CaseFilter,
        cap: i64,
    ) -> Result<(i64, bool)> {
        let Some(mut q) = self.case_query(scope, f, now_ms()).await? else {
            return Ok((0, false));
        };
        let lim = q.w.int(cap + 1);
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM {}{} LIMIT {lim}) t",
            q.from,
            q.w.where_sql()
        );
        let n: i64 = with_db!(&self.db, pool => {
            bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), &q.w.args).fetch_one(pool).await?
        });
        Ok((n.min(cap), n > cap))
    }

    /// The cases in scope whose reporter gave this mobile number (a
    /// counter or hotline worker finding a caller's requests). Each look-up
    /// confirms or denies a guess, so it is audited with the number masked
    /// (the web layer also holds it to the look-up allowance).
    pub async fn cases_by_phone(
        &self,
        scope: &Scope,
        f: &CaseFilter,
        phone: &str,
        actor: &str,
    ) -> Result<Vec<CaseView>> {
        let phone = linli_core::validate::mobile_phone(phone)
            .map_err(|e| StoreError::invalid_msg("phone", e))?;
        let f = CaseFilter {
            reporter_phone_idx: Some(super::PhoneIndex(
                self.vault().blind_index(crate::vault::Field::Phone, &phone),
            )),
            ..f.clone()
        };
        let found = self.cases(scope, &f).await?;
        self.audit(
            actor,
            "case.lookup_phone",
            "service_case",
            &format!(
                "{} ({} found)",
                linli_core::mask::phone(&phone),
                found.len()
            ),
        )
        .await?;
        Ok(found)
    }

    /// The table (with its index), conditions and order of a case list in
    /// scope; `None` when it is empty by its filters alone. Shared by the
    /// list and the export, so both read the same rows the same way.
    pub(crate) async fn case_query(
        &self,
        scope: &Scope,
        f: &CaseFilter,
        now: i64,
    ) -> Result<Option<CaseQuery>> {
        // Record-level scopes: the whole tree, narrowed to the unit's or
        // the reporter's cases (a filter on another unit finds nothing).
        let (mut tree, mut unit, reporter) = match scope {
            Scope::Unit(u) => {
                if f.unit_id.is_some_and(|x| x != *u) {
                    return Ok(None);
                }
                (Scope::Everything, Some(*u), None)
            }
            Scope::Reporter(a) => (Scope::Everything, None, Some(*a)),
            s => (s.clone(), None, None),
        };
        unit = unit.or(f.unit_id);
        // A to-do narrows the list like its state (or "open") would, for
        // the choice of index; its own conditions follow below.
        let narrowed;
        let f = match f.todo {
            Some(t) => {
                let (state, open) = super::todo::todo_state(t);
                narrowed = CaseFilter {
                    state: state.or(f.state),
                    open: if open { Some(true) } else { f.open },
                    ..f.clone()
                };
                &narrowed
            }
            None => f,
        };
        let mut w = Conditions::default();
        if let Some(g) = f.grid_id {
            // A grid's cases lie under its path: the list becomes the
            // grid's own (a grid outside the scope finds nothing).
            tree = match self.org_unit(&tree, g).await {
                Ok(grid) => grid.scope()?,
                Err(StoreError::NotFound(_) | StoreError::OutOfScope(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            let p = w.int(g);
            w.push(format!("c.grid_id = {p}"));
        }
        let lead = Lead::choose(&tree, unit, reporter, f);
        if let Scope::Subtree(path) = &tree {
            let (lo, hi) = (w.text(path.as_str()), w.text(&path.subtree_end()));
            w.push(format!("c.scope_path >= {lo} AND c.scope_path < {hi}"));
        }
        if let Some(u) = unit {
            let p = w.int(u);
            w.push(format!("c.unit_id = {p}"));
        }
        if let Some(a) = reporter {
            let p = w.int(a);
            w.push(format!("c.reporter_account = {p}"));
        }
        if let Some(st) = f.state {
            let p = w.text(st.code());
            w.push(format!("c.state = {p}"));
        }
        // Written as the partial index of open cases is declared, so that
        // it can lead.
        let due_first = f.order == super::CaseOrder::DueFirst;
        if f.open == Some(true) || f.overdue || due_first {
            w.push(format!("c.state IN {OPEN_STATES}"));
        }
        // By deadline: the open cases that have one (written as the
        // partial indexes of that order are declared).
        if due_first {
            w.push("c.due_at IS NOT NULL".to_string());
        }
        if f.open == Some(false) {
            w.push(format!("c.state NOT IN {OPEN_STATES}"));
        }
        if f.overdue {
            let p = w.int(now);
            w.push(format!("(c.due_at < {p} OR c.overdue_at IS NOT NULL)"));
        }
        if let Some(cat) = f.category.as_deref() {
            let p = w.text(cat);
            w.push(format!(
                "c.category_code IN (SELECT code FROM category WHERE code = {p} OR parent_code = {p})"
            ));
        }
        if let Some(ch) = f.channel.as_deref() {
            let p = w.text(ch);
            w.push(format!("c.channel = {p}"));
        }
        if let Some(from) = f.created_from {
            let p = w.int(from);
            w.push(format!("c.created_at >= {p}"));
        }
        if let Some(to) = f.created_to {
            let p = w.int(to);
            w.push(format!("c.created_at < {p}"));
        }
        if let Some(t) = f.todo {
            super::todo::todo_conditions(t, now, &mut w);
        }
        if let Some(k) = f
            .keyword
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            let escaped = k
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let p = w.text(&format!("%{escaped}%"));
            // Latin letters match either case on both databases (SQLite's
            // LIKE already does).
            let like = match self.backend() {
                crate::Backend::Sqlite => "LIKE",
                crate::Backend::Postgres => "ILIKE",
            };
            w.push(format!(
                "(c.title {like} {p} ESCAPE '\\' OR c.address {like} {p} ESCAPE '\\')"
            ));
        }
        if let Some(idx) = &f.reporter_phone_idx {
            let p = w.arg(crate::db::Arg::Bytes(idx.0.clone()));
            w.push(format!("c.reporter_phone_idx = {p}"));
        }
        if let Some(b) = f.before_id {
            let p = w.int(b);
            if windowed(f) {
                // After the given case in (registered, id) order.
                w.push(format!(
                    "(c.created_at, c.id) < (SELECT created_at, id FROM service_case WHERE id = {p})"
                ));
            } else {
                w.push(format!("c.id < {p}"));
            }
        }
        let hint = match self.backend() {
            crate::Backend::Sqlite => lead.sqlite_hint(),
            crate::Backend::Postgres => String::new(),
        };
        // Newest first: by id, or for a period by the time registered
        // (which the period's index holds).
        let order = if due_first {
            "c.due_at, c.id"
        } else if windowed(f) {
            "c.created_at DESC, c.id DESC"
        } else {
            "c.id DESC"
        };
        Ok(Some(CaseQuery {
            from: format!("service_case c{hint}"),
            w,
            order,
        }))
    }
}

/// A case list as SQL parts: `FROM {from}{w} ORDER BY {order}`.
pub(crate) struct CaseQuery {
    pub from: String,
    pub w: Conditions,
    pub order: &'static str,
}

/// Whether a list is limited to a period of registration: it is then
/// ordered by the time registered.
fn windowed(f: &CaseFilter) -> bool {
    f.created_from.is_some() || f.created_to.is_some()
}

/// The deepest `offset` a case list takes; past it, page with `before`.
pub const MAX_OFFSET: i64 = 10_000;

/// The states of a case still owed work, as SQL (the partial index of open
/// cases is declared with the same list).
pub(crate) const OPEN_STATES: &str =
    "('registered','classified','opened','dispatched','handling','reported_back')";

/// Org paths at least this deep (a subdistrict: city/district/subdistrict)
/// hold few enough cases (tens of thousands) to be read from the path index
/// and sorted; wider ones are walked newest first.
const AREA_DEPTH: usize = 3;

/// Which index leads a list of cases. Chosen here by the list's shape, not
/// left to the planner: a range over the org path tells it nothing of how
/// many cases it holds (a grid's few hundred or a district's million).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lead {
    /// The cases of a reporter's phone: its blind index (a handful).
    Phone,
    /// A reporter's own cases: (reporter_account, id).
    Reporter,
    /// A unit's cases: (unit_id, id).
    Unit,
    /// A unit's cases of a state, or open: (unit_id, state, id), the few
    /// found sorted (a department's cases of one state among its many).
    UnitState,
    /// A subdistrict or deeper: its cases by (scope_path, state, id), the
    /// state read from the index, the page sorted.
    Area,
    /// A wider area with a state: (state, id), newest first.
    State,
    /// A wider area, open or overdue cases only: the partial index of open
    /// cases, newest first.
    Open,
    /// A wider area, registered within a period: the period's cases by
    /// (created_at), newest registered first (a month a year ago is read
    /// where it lies, not reached by walking every case since).
    Window,
    /// A wider area's open cases with a deadline, in deadline order.
    Due,
    /// A unit's open cases with a deadline, in deadline order.
    UnitDue,
    /// A wider area: the cases newest first, the area checked row by row
    /// (a district holds a twentieth of a city, so a page is a few
    /// thousand rows away at most).
    Newest,
}

impl Lead {
    fn choose(tree: &Scope, unit: Option<i64>, reporter: Option<i64>, f: &CaseFilter) -> Lead {
        let depth = crate::rates::scope_depth(tree);
        // The narrowest index first: a reporter's cases, an area's, a
        // unit's (of one state or open, by the unit's state index), the open
        // ones, a period's, a state's.
        let by_state = f.state.is_some() || f.open == Some(true) || f.overdue;
        if f.reporter_phone_idx.is_some() {
            Lead::Phone
        } else if reporter.is_some() {
            Lead::Reporter
        } else if depth >= AREA_DEPTH {
            Lead::Area
        } else if f.order == super::CaseOrder::DueFirst {
            // In deadline order straight from an index (a district's or a
            // department's open cases are too many to sort per page).
            if unit.is_some() {
                Lead::UnitDue
            } else {
                Lead::Due
            }
        } else if unit.is_some() && by_state {
            Lead::UnitState
        } else if unit.is_some() {
            Lead::Unit
        } else if f.open == Some(true) || f.overdue {
            Lead::Open
        } else if windowed(f) {
            Lead::Window
        } else if f.state.is_some() {
            Lead::State
        } else {
            Lead::Newest
        }
    }

    /// SQLite's own words for the choice.
    fn sqlite_hint(self) -> String {
        let index = match self {
            Lead::Phone => "service_case_reporter_phone",
            Lead::Reporter => "service_case_reporter",
            Lead::Unit => "service_case_unit_id",
            Lead::UnitState => "service_case_unit_state",
            Lead::Area => "service_case_scope_state",
            Lead::State => "service_case_state_id",
            Lead::Open => "service_case_open",
            Lead::Window => "service_case_created",
            Lead::Due => "service_case_queue_due",
            Lead::UnitDue => "service_case_unit_queue_due",
            // The table itself, in rowid order.
            Lead::Newest => return " NOT INDEXED".into(),
        };
        format!(" INDEXED BY {index}")
    }
}

/// What a case's masked text was, for those who may unmask.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct CaseOriginals {
    /// The reporter's name as given.
    pub reporter_name: Option<String>,
    /// The reporter's phone in full.
    pub reporter_phone: Option<String>,
    /// Free text in which ID numbers or phones were masked, as written:
    /// the field (title, description, address, note) and, for a note, the
    /// timeline entry it belongs to.
    pub texts: Vec<OriginalText>,
    pub audit_id: i64,
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
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
        type SealedReporter = (Option<Vec<u8>>, Option<Vec<u8>>, Option<String>);
        let (audit_id, (phone, name, clear_name), sealed): (i64, SealedReporter, Vec<Sealed>) = with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let audit_id = append_in_tx!(tx, self.vault(), actor, "case.view_unmasked", &format!("case:{id}"), reason.trim());
            let reporter: SealedReporter = sqlx::query_as("SELECT reporter_phone_enc, reporter_name_enc, reporter_name FROM service_case WHERE id = $1")
                .bind(id).fetch_one(&mut *tx).await?;
            let sealed: Vec<Sealed> = sqlx::query_as("SELECT field, event_id, sealed FROM sealed_text WHERE case_id = $1 ORDER BY id")
                .bind(id).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            (audit_id, reporter, sealed)
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
            // A case not yet sealed (from before migration 19) keeps its
            // name in clear until the background sealing reaches it.
            reporter_name: match name {
                Some(n) => Some(self.vault().open(Field::ReporterName, &n)?),
                None => clear_name,
            },
            reporter_phone: phone
                .map(|p| self.vault().open(Field::Phone, &p))
                .transpose()?,
            texts,
            audit_id,
        })
    }
}
