//! Requests and cases (诉求/工单): intake from every channel, the closed
//! loop decided by [`linli_core::case::apply`], deadlines on the working-day
//! calendar, dispatch rules, overdue detection and rates.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use linli_core::calendar::{Calendar, Limit};
use linli_core::case::{self, Action, Effect, Facts, Level, Rating, Resolution, State, StepError};
use linli_core::category::{Category, Taxonomy};
use linli_core::{mask, validate};
use serde::{Deserialize, Serialize};

use crate::audit::append_in_tx;
use crate::db::BeginWrite;
use crate::db::now_ms;
use crate::outbox::enqueue_in_tx;
use crate::rates::{CaseFigures, RateCounts, RollupKey, rollup_change, rollup_in_tx};
use crate::vault::Field;
use crate::{Result, Scope, Store, StoreError, with_db};

/// Where a request came from. Each case keeps its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 居民自报: the resident, on the portal or app.
    SelfReport,
    /// 网格巡查: a grid member on patrol.
    GridPatrol,
    /// 一窗受理: the community's counter.
    Counter,
    /// 12345 热线: imported from the city hotline.
    Hotline12345,
    /// 民生工作站: livelihood station visit.
    LivelihoodStation,
    /// Other systems through the API or Open311.
    Api,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::SelfReport,
        Channel::GridPatrol,
        Channel::Counter,
        Channel::Hotline12345,
        Channel::LivelihoodStation,
        Channel::Api,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Channel::SelfReport => "self_report",
            Channel::GridPatrol => "grid_patrol",
            Channel::Counter => "counter",
            Channel::Hotline12345 => "hotline_12345",
            Channel::LivelihoodStation => "livelihood_station",
            Channel::Api => "api",
        }
    }
    pub fn parse(s: &str) -> Result<Channel> {
        Channel::ALL
            .into_iter()
            .find(|c| c.code() == s.trim())
            .ok_or_else(|| {
                StoreError::invalid(
                    "channel",
                    format!(
                        "unknown channel '{s}' (expected one of: {})",
                        Channel::ALL.map(|c| c.code()).join(", ")
                    ),
                )
            })
    }
}

/// A checked request, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct NewCase {
    channel: Channel,
    external_id: Option<String>,
    category: Option<String>,
    category_name: Option<String>,
    title: String,
    description: String,
    address: String,
    lon: Option<f64>,
    lat: Option<f64>,
    grid: Option<i64>,
    grid_name: Option<String>,
    scope_path: String,
    reporter: Option<String>,
    /// The resident account that reported it through the portal.
    reporter_account: Option<i64>,
    phone_enc: Option<Vec<u8>>,
    phone_idx: Option<Vec<u8>>,
    phone_masked: Option<String>,
    facts: Facts,
    response_due: Option<i64>,
    created: i64,
}

impl NewCase {
    /// The row as written, once it has its id.
    fn row(&self, id: i64) -> CaseRow {
        CaseRow {
            id,
            code: String::new(),
            channel: self.channel.code().to_string(),
            external_id: self.external_id.clone(),
            category_code: self.category.clone(),
            category_name: self.category_name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            address: self.address.clone(),
            lon: self.lon,
            lat: self.lat,
            grid_id: self.grid,
            grid_name: self.grid_name.clone(),
            scope_path: self.scope_path.clone(),
            reporter_name: self.reporter.clone(),
            reporter_account: self.reporter_account,
            reporter_phone_masked: self.phone_masked.clone(),
            state: self.facts.state.code().to_string(),
            level: self.facts.level.code().to_string(),
            unit_id: None,
            unit_name: None,
            parent_id: None,
            resolution: None,
            rating: None,
            extension_pending: None,
            rework_count: 0,
            reopen_count: 0,
            supervision_count: 0,
            extension_count: 0,
            escalation_count: 0,
            response_due: self.response_due,
            due_at: None,
            responded_at: None,
            closed_at: None,
            overdue_at: None,
            version: 1,
            created_at: self.created,
            updated_at: self.created,
        }
    }

    fn figures(&self) -> CaseFigures<'_> {
        CaseFigures {
            state: self.facts.state.code(),
            resolution: None,
            rating: None,
            unit_id: self.facts.unit,
            category: self.category.as_deref(),
            scope_path: &self.scope_path,
            created_at: self.created,
            response_due: self.response_due,
            responded_at: None,
            due_at: None,
            closed_at: None,
            rework_count: 0,
            extension_count: 0,
        }
    }
}

/// One request waiting for the group commit.
pub(crate) struct IntakeJob {
    actor: String,
    case: Box<NewCase>,
    done: tokio::sync::oneshot::Sender<Result<i64>>,
}

/// Requests waiting to be written, and the writer's turn.
#[derive(Default)]
pub(crate) struct IntakeQueue {
    jobs: std::sync::Mutex<Vec<IntakeJob>>,
    turn: tokio::sync::Mutex<()>,
}

impl IntakeQueue {
    fn push(&self, job: IntakeJob) {
        match self.jobs.lock() {
            Ok(mut q) => q.push(job),
            Err(poisoned) => poisoned.into_inner().push(job),
        }
    }

    fn take(&self) -> Vec<IntakeJob> {
        match self.jobs.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

pub(crate) enum Prepared {
    /// Already received (same channel and external id).
    Known(i64),
    New(Box<NewCase>),
}

/// A request as it arrives.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewRequest {
    pub channel: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    pub description: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub lat: Option<f64>,
    /// Where the request belongs when it has no location (a grid or community code).
    #[serde(default)]
    pub org_code: Option<String>,
    #[serde(default)]
    pub reporter_name: Option<String>,
    #[serde(default)]
    pub reporter_phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CaseRow {
    pub id: i64,
    /// GD + registration date (Beijing) + id, e.g. GD202611220000042.
    #[sqlx(skip)]
    pub code: String,
    pub channel: String,
    pub external_id: Option<String>,
    pub category_code: Option<String>,
    pub category_name: Option<String>,
    pub title: String,
    pub description: String,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub grid_id: Option<i64>,
    pub grid_name: Option<String>,
    pub scope_path: String,
    pub reporter_name: Option<String>,
    /// The resident account that reported it, for portal reports.
    pub reporter_account: Option<i64>,
    pub reporter_phone_masked: Option<String>,
    pub state: String,
    pub level: String,
    pub unit_id: Option<i64>,
    pub unit_name: Option<String>,
    pub parent_id: Option<i64>,
    pub resolution: Option<String>,
    pub rating: Option<String>,
    pub extension_pending: Option<i32>,
    pub rework_count: i32,
    pub reopen_count: i32,
    pub supervision_count: i32,
    pub extension_count: i32,
    pub escalation_count: i32,
    pub response_due: Option<i64>,
    pub due_at: Option<i64>,
    pub responded_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub overdue_at: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A case with what may be done to it now.
#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    #[serde(flatten)]
    pub row: CaseRow,
    pub state_zh: &'static str,
    pub overdue: bool,
    pub allowed: Vec<&'static str>,
    /// The staff of the case's grid (网格员, 网格长), found from its place;
    /// filled when one case is read, empty in lists.
    pub grid_staff: Vec<crate::org::PostView>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CaseEvent {
    pub id: i64,
    pub case_id: i64,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub actor: String,
    pub note: String,
    pub data: String,
    pub at: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HandlingUnit {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub org_id: i64,
    pub scope_path: String,
    pub webhook_url: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub state: Option<State>,
    pub category: Option<String>,
    pub grid_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub overdue: bool,
    pub channel: Option<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub limit: i64,
    pub offset: i64,
    /// Only cases with a smaller id (paging through an export).
    pub before_id: Option<i64>,
}

fn facts_of(r: &CaseRow) -> Result<Facts> {
    let bad = |what: &str| StoreError::Config(format!("case {} has an unknown {what}", r.id));
    Ok(Facts {
        state: State::parse(&r.state).ok_or_else(|| bad("state"))?,
        level: Level::parse(&r.level).ok_or_else(|| bad("level"))?,
        category: r.category_code.clone(),
        unit: r.unit_id,
        resolution: match r.resolution.as_deref() {
            None => None,
            Some("answered") => Some(Resolution::Answered),
            Some("resolved") => Some(Resolution::Resolved),
            Some(_) => return Err(bad("resolution")),
        },
        rating: match r.rating.as_deref() {
            None => None,
            Some(x) => Some(Rating::parse(x).ok_or_else(|| bad("rating"))?),
        },
        extension_pending: r.extension_pending.map(|d| d.max(0) as u32),
        rework_count: r.rework_count.max(0) as u32,
        reopen_count: r.reopen_count.max(0) as u32,
        supervision_count: r.supervision_count.max(0) as u32,
        extension_count: r.extension_count.max(0) as u32,
        escalation_count: r.escalation_count.max(0) as u32,
        parent: r.parent_id,
    })
}

fn resolution_code(r: Resolution) -> &'static str {
    match r {
        Resolution::Answered => "answered",
        Resolution::Resolved => "resolved",
    }
}

/// The code people see: GD, the registration day in Beijing, the id.
pub fn case_code(id: i64, created_at: i64) -> String {
    let day = Utc
        .timestamp_millis_opt(created_at)
        .single()
        .unwrap_or_default()
        .with_timezone(
            &chrono::FixedOffset::east_opt(8 * 3600)
                .unwrap_or_else(|| unreachable!("+08:00 is valid")),
        )
        .format("%Y%m%d");
    format!("GD{day}{id:07}")
}

/// The id inside a case code, if the code is well formed.
pub fn id_from_code(code: &str) -> Option<i64> {
    let rest = code.trim().strip_prefix("GD")?;
    if rest.len() < 9 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest[8..].parse().ok()
}

fn view(mut row: CaseRow, now: i64) -> Result<CaseView> {
    row.code = case_code(row.id, row.created_at);
    let facts = facts_of(&row)?;
    let overdue =
        facts.state.is_open() && (row.overdue_at.is_some() || row.due_at.is_some_and(|d| d < now));
    Ok(CaseView {
        state_zh: facts.state.label_zh(),
        overdue,
        allowed: case::allowed(&facts),
        grid_staff: Vec::new(),
        row,
    })
}

const CASE_SELECT: &str = "SELECT c.id, c.channel, c.external_id, c.category_code, cat.name AS category_name, c.title, c.description,
        c.address, c.lon, c.lat, c.grid_id, g.name AS grid_name, c.scope_path, c.reporter_name, c.reporter_account, c.reporter_phone_masked,
        c.state, c.level, c.unit_id, u.name AS unit_name, c.parent_id, c.resolution, c.rating, c.extension_pending,
        c.rework_count, c.reopen_count, c.supervision_count, c.extension_count, c.escalation_count,
        c.response_due, c.due_at, c.responded_at, c.closed_at, c.overdue_at, c.version, c.created_at, c.updated_at
     FROM service_case c
     LEFT JOIN category cat ON cat.code = c.category_code
     LEFT JOIN org_unit g ON g.id = c.grid_id
     LEFT JOIN handling_unit u ON u.id = c.unit_id";

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn limit_of(c: &Category) -> Option<Limit> {
    c.limit
}

fn step_error(e: StepError) -> StoreError {
    match e {
        StepError::NotAllowed { .. } => StoreError::Conflict(e.to_string()),
        StepError::Invalid { field, message } => StoreError::invalid(field, message),
    }
}

impl Store {
    /// The working-day calendar: the shipped one plus years an
    /// administrator added.
    pub fn calendar(&self) -> Calendar {
        match self.calendar.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Adds or replaces calendar years from a calendar file; kept in the
    /// database so that it survives restarts.
    pub async fn extend_calendar(&self, actor: &str, json: &str) -> Result<Vec<i32>> {
        let extra = Calendar::from_json(json).map_err(|e| StoreError::invalid("calendar", e.0))?;
        let years: Vec<i32> = extra.years().iter().copied().collect();
        let key = format!(
            "calendar.{}",
            years
                .iter()
                .map(|y| y.to_string())
                .collect::<Vec<_>>()
                .join("-")
        );
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM setting WHERE key = $1").bind(&key).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO setting (key, value, updated_at) VALUES ($1, $2, $3)")
                .bind(&key).bind(json).bind(now_ms()).execute(&mut *tx).await?;
            append_in_tx!(tx, actor, "calendar.extend", &key, "");
            tx.commit().await?;
        });
        self.changed(crate::caches::Cached::Calendar).await?;
        Ok(years)
    }

    /// Loads stored calendar years and seeds the default categories into
    /// an empty category table. Called on open.
    pub(crate) async fn load_settings(&self) -> Result<()> {
        self.reload_calendar().await?;
        let n: i64 = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM category").fetch_one(pool).await?
        });
        if n == 0 {
            let t = Taxonomy::default_set().map_err(|e| StoreError::Config(e.0))?;
            self.save_categories(&t).await?;
        }
        Ok(())
    }

    /// The shipped calendar plus the years stored by administrators.
    pub(crate) async fn reload_calendar(&self) -> Result<()> {
        let extras: Vec<String> = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT value FROM setting WHERE key LIKE 'calendar.%' ORDER BY key").fetch_all(pool).await?
        });
        let mut cal = Calendar::china().map_err(|e| StoreError::Config(e.0))?;
        for e in extras {
            match Calendar::from_json(&e) {
                Ok(c) => cal.extend(c),
                Err(err) => tracing::warn!("stored calendar ignored: {err}"),
            }
        }
        if let Ok(mut c) = self.calendar.write() {
            *c = cal;
        }
        Ok(())
    }

    /// Replaces the category taxonomy (an administrator's edit). Categories
    /// in use are kept and deactivated rather than deleted.
    pub async fn save_categories(&self, t: &Taxonomy) -> Result<()> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE category SET active = FALSE").execute(&mut *tx).await?;
            for c in &t.categories {
                let (kind, value) = match c.limit {
                    Some(Limit::WorkingDays(d)) => (Some("working_days"), Some(d as i32)),
                    Some(Limit::WorkingHours(h)) => (Some("working_hours"), Some(h as i32)),
                    None => (None, None),
                };
                let exists: Option<String> = sqlx::query_scalar("SELECT code FROM category WHERE code = $1")
                    .bind(&c.code).fetch_optional(&mut *tx).await?;
                let sql = if exists.is_some() {
                    "UPDATE category SET parent_code = $2, name = $3, name_en = $4, response_hours = $5, limit_kind = $6, limit_value = $7, default_unit_kind = $8, active = TRUE WHERE code = $1"
                } else {
                    "INSERT INTO category (code, parent_code, name, name_en, response_hours, limit_kind, limit_value, default_unit_kind, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE)"
                };
                sqlx::query(sql)
                    .bind(&c.code).bind(&c.parent).bind(&c.name).bind(&c.name_en)
                    .bind(c.response_hours.map(|h| h as i32)).bind(kind).bind(value).bind(&c.default_unit_kind)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        self.changed(crate::caches::Cached::Categories).await
    }

    /// The active categories.
    pub async fn categories(&self) -> Result<Vec<Category>> {
        Ok(self.category_list().await?.as_ref().clone())
    }

    /// The active categories, from the cache when it is warm.
    async fn category_list(&self) -> Result<Arc<Vec<Category>>> {
        if let Ok(c) = self.categories.read()
            && let Some(list) = c.as_ref()
        {
            return Ok(list.clone());
        }
        let list = Arc::new(self.read_categories().await?);
        if let Ok(mut c) = self.categories.write() {
            *c = Some(list.clone());
        }
        Ok(list)
    }

    async fn read_categories(&self) -> Result<Vec<Category>> {
        type Row = (
            String,
            Option<String>,
            String,
            String,
            Option<i32>,
            Option<String>,
            Option<i32>,
            Option<String>,
        );
        let rows: Vec<Row> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT code, parent_code, name, name_en, response_hours, limit_kind, limit_value, default_unit_kind FROM category WHERE active = TRUE ORDER BY code")
                .fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(code, parent, name, name_en, resp, kind, value, unit)| Category {
                    code,
                    parent,
                    name,
                    name_en,
                    response_hours: resp.map(|h| h.max(0) as u32),
                    limit: match (kind.as_deref(), value) {
                        (Some("working_days"), Some(v)) => {
                            Some(Limit::WorkingDays(v.max(0) as u32))
                        }
                        (Some("working_hours"), Some(v)) => {
                            Some(Limit::WorkingHours(v.max(0) as u32))
                        }
                        _ => None,
                    },
                    default_unit_kind: unit,
                },
            )
            .collect())
    }

    async fn leaf_category(&self, code: &str) -> Result<Category> {
        let c = self
            .category_list()
            .await?
            .iter()
            .find(|c| c.code == code.trim())
            .cloned()
            .ok_or_else(|| StoreError::invalid("category", format!("unknown category '{code}'")))?;
        if !c.is_leaf() {
            return Err(StoreError::invalid(
                "category",
                format!(
                    "'{}' ({}) is a group; choose one of its sub-categories",
                    c.code, c.name
                ),
            ));
        }
        Ok(c)
    }

    /// Registers a handling unit at an org node in scope.
    pub async fn create_unit(
        &self,
        scope: &Scope,
        org_id: i64,
        name: &str,
        kind: &str,
        webhook_url: Option<&str>,
    ) -> Result<HandlingUnit> {
        let org = self.org_unit(scope, org_id).await?;
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid("name", "must not be empty"));
        }
        if kind.trim().is_empty() {
            return Err(StoreError::invalid("kind", "must not be empty"));
        }
        if let Some(u) = webhook_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(StoreError::invalid(
                "webhook_url",
                "must start with http:// or https://",
            ));
        }
        let r: std::result::Result<i64, sqlx::Error> = with_db!(&self.db, pool => {
            sqlx::query_scalar("INSERT INTO handling_unit (name, kind, org_id, scope_path, webhook_url, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(name).bind(kind.trim()).bind(org.id).bind(&org.path).bind(webhook_url).bind(now_ms())
                .fetch_one(pool).await
        });
        let id = r.map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("{} already has a unit named {name}", org.name))
            }
            e => e.into(),
        })?;
        Ok(HandlingUnit {
            id,
            name: name.into(),
            kind: kind.trim().into(),
            org_id: org.id,
            scope_path: org.path,
            webhook_url: webhook_url.map(String::from),
        })
    }

    /// Units serving the scope: those attached inside it and those above it
    /// (a district department serves every community below).
    pub async fn units(&self, scope: &Scope) -> Result<Vec<HandlingUnit>> {
        let all: Vec<HandlingUnit> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, name, kind, org_id, scope_path, webhook_url FROM handling_unit ORDER BY scope_path, name")
                .fetch_all(pool).await?
        });
        let (lo, _) = scope.bounds();
        Ok(all
            .into_iter()
            .filter(|u| scope.covers(&u.scope_path) || lo.starts_with(&u.scope_path))
            .collect())
    }

    /// Sets the rule "this category at this place goes to this unit".
    pub async fn set_dispatch_rule(
        &self,
        scope: &Scope,
        category: &str,
        org_id: i64,
        unit_id: i64,
    ) -> Result<()> {
        let cat = self.leaf_category(category).await?;
        let org = self.org_unit(scope, org_id).await?;
        let unit = self
            .units(scope)
            .await?
            .into_iter()
            .find(|u| u.id == unit_id)
            .ok_or_else(|| StoreError::NotFound(format!("unit {unit_id}")))?;
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM dispatch_rule WHERE category_code = $1 AND org_id = $2")
                .bind(&cat.code).bind(org.id).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO dispatch_rule (category_code, org_id, unit_id, scope_path) VALUES ($1, $2, $3, $4)")
                .bind(&cat.code).bind(org.id).bind(unit.id).bind(&org.path).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The unit a case goes to by the rules: a dispatch rule for its
    /// category at the nearest place above it, else the nearest unit of
    /// the category's default kind.
    pub async fn suggest_unit(
        &self,
        scope_path: &str,
        category: &str,
    ) -> Result<Option<HandlingUnit>> {
        let ancestors: Vec<String> = ancestor_paths(scope_path);
        let rules: Vec<(String, i64)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT scope_path, unit_id FROM dispatch_rule WHERE category_code = $1")
                .bind(category).fetch_all(pool).await?
        });
        let units: Vec<HandlingUnit> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, name, kind, org_id, scope_path, webhook_url FROM handling_unit ORDER BY id")
                .fetch_all(pool).await?
        });
        for path in &ancestors {
            if let Some((_, unit)) = rules.iter().find(|(p, _)| p == path) {
                return Ok(units.into_iter().find(|u| u.id == *unit));
            }
        }
        let kind = match self.leaf_category(category).await?.default_unit_kind {
            Some(k) => k,
            None => return Ok(None),
        };
        for path in &ancestors {
            if let Some(u) = units
                .iter()
                .find(|u| &u.scope_path == path && u.kind == kind)
            {
                return Ok(Some(u.clone()));
            }
        }
        Ok(None)
    }

    /// Registers a request from any channel; with a category it is also
    /// classified. A point is placed in its grid. A request already
    /// received with the same channel and external id is returned as it is.
    pub async fn intake(&self, scope: &Scope, actor: &str, req: &NewRequest) -> Result<CaseView> {
        self.intake_at(scope, actor, req, Utc::now()).await
    }

    pub async fn intake_at(
        &self,
        scope: &Scope,
        actor: &str,
        req: &NewRequest,
        now: DateTime<Utc>,
    ) -> Result<CaseView> {
        let p = match self.prepare_intake(scope, req, now).await? {
            Prepared::Known(id) => return self.case(scope, id).await,
            Prepared::New(p) => p,
        };
        let id = self.write_intake(actor, &p).await?;
        // The stored row is known without reading it back; the grid's
        // staff come with a read of the case (GET), not with every intake.
        view(p.row(id), ms(now))
    }

    /// Checks a request and works out everything to be written, without
    /// writing: used by intake and to check a whole batch first.
    pub(crate) async fn prepare_intake(
        &self,
        scope: &Scope,
        req: &NewRequest,
        now: DateTime<Utc>,
    ) -> Result<Prepared> {
        // A resident reports for themself, through the portal; their
        // report may lie anywhere in the district.
        let (channel, reporter_account) = match scope {
            Scope::Reporter(a) => (Channel::SelfReport, Some(*a)),
            _ => (Channel::parse(&req.channel)?, None),
        };
        let tree = scope.tree_for_lookup();
        let description = req.description.trim();
        if description.is_empty() {
            return Err(StoreError::invalid("description", "is required"));
        }
        if description.chars().count() > 4000 {
            return Err(StoreError::invalid(
                "description",
                "is longer than 4000 characters",
            ));
        }
        let title = match req
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            Some(t) if t.chars().count() > 200 => {
                return Err(StoreError::invalid(
                    "title",
                    "is longer than 200 characters",
                ));
            }
            Some(t) => t.to_string(),
            None => description.chars().take(30).collect(),
        };
        let external_id = req
            .external_id
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(String::from);
        if let Some(ext) = &external_id {
            let found: Option<i64> = with_db!(&self.db, pool => {
                sqlx::query_scalar("SELECT id FROM service_case WHERE channel = $1 AND external_id = $2")
                    .bind(channel.code()).bind(ext).fetch_optional(pool).await?
            });
            if let Some(id) = found {
                return Ok(Prepared::Known(id));
            }
        }
        let category = match req
            .category
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            Some(c) => Some(self.leaf_category(c).await?),
            None => None,
        };
        let phone = match req
            .reporter_phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            Some(p) => Some(
                validate::mobile_phone(p)
                    .map_err(|e| StoreError::invalid("reporter_phone", e.0))?,
            ),
            None => None,
        };
        // Where it belongs: the grid holding the point, else the named org unit.
        let (grid, place) = match (req.lon, req.lat) {
            (Some(lon), Some(lat)) => match self.locate_grid(&tree, lon, lat).await? {
                Some(g) => (Some(g.id), g),
                None => {
                    return Err(StoreError::invalid(
                        "lon",
                        format!("({lon}, {lat}) lies in no grid of your area"),
                    ));
                }
            },
            (None, None) => match req
                .org_code
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                Some(code) => {
                    let u = self.org_by_code(&tree, code).await.map_err(|_| {
                        StoreError::invalid("org_code", format!("no org unit {code} in your area"))
                    })?;
                    ((u.kind == "grid").then_some(u.id), u)
                }
                None => {
                    return Err(StoreError::invalid(
                        "lon",
                        "give lon and lat, or org_code, to say where the problem is",
                    ));
                }
            },
            _ => return Err(StoreError::invalid("lat", "lon and lat go together")),
        };
        let reporter_name = req
            .reporter_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from);
        let cal = self.calendar();
        let response_due = category
            .as_ref()
            .and_then(|c| c.response_hours)
            .map(|h| ms(cal.add_working_minutes(now, h.saturating_mul(60))));
        let mut facts = Facts::new();
        if let Some(c) = &category {
            facts = case::apply(
                &facts,
                &Action::Classify {
                    category: c.code.clone(),
                },
            )
            .map_err(step_error)?
            .facts;
        }
        let vault = self.vault();
        Ok(Prepared::New(Box::new(NewCase {
            channel,
            external_id,
            category_name: category.as_ref().map(|c| c.name.clone()),
            category: category.map(|c| c.code),
            grid_name: grid.map(|_| place.name.clone()),
            title,
            description: description.to_string(),
            address: req.address.as_deref().unwrap_or("").trim().to_string(),
            lon: req.lon,
            lat: req.lat,
            grid,
            scope_path: place.path,
            reporter: match (reporter_name, reporter_account) {
                (Some(n), _) => Some(n),
                // A resident's own report carries their account's name.
                (None, Some(a)) => Some(self.account(a).await?.display_name),
                (None, None) => None,
            },
            reporter_account,
            phone_enc: phone.as_deref().map(|p| vault.seal(Field::Phone, p)),
            phone_idx: phone.as_deref().map(|p| vault.blind_index(Field::Phone, p)),
            phone_masked: phone.as_deref().map(mask::phone),
            facts,
            response_due,
            created: ms(now),
        })))
    }

    /// Writes a prepared request; returns its id once it is committed.
    ///
    /// Group commit: requests arriving together are written in one
    /// transaction by whichever of them holds the writer's turn, so one
    /// durable commit (one fsync) serves many. The batch is written on a
    /// spawned task, so a caller that goes away cannot cut it short.
    pub(crate) async fn write_intake(&self, actor: &str, p: &NewCase) -> Result<i64> {
        let (done, mut rx) = tokio::sync::oneshot::channel();
        self.intake_queue.push(IntakeJob {
            actor: actor.to_string(),
            case: Box::new(p.clone()),
            done,
        });
        let turn = self.intake_queue.turn.lock().await;
        if let Ok(r) = rx.try_recv() {
            return r;
        }
        let batch = self.intake_queue.take();
        if !batch.is_empty() {
            let store = self.clone();
            let _ = tokio::spawn(async move { store.write_intake_batch(batch).await }).await;
        }
        drop(turn);
        rx.await
            .map_err(|_| StoreError::Config("the intake writer stopped; try again".into()))?
    }

    /// Writes a batch together; if that fails, each on its own, so one
    /// bad request does not fail the others.
    async fn write_intake_batch(&self, batch: Vec<IntakeJob>) {
        let items: Vec<(&str, &NewCase)> =
            batch.iter().map(|j| (j.actor.as_str(), &*j.case)).collect();
        match self.write_intakes(&items).await {
            Ok(ids) => {
                for (job, id) in batch.into_iter().zip(ids) {
                    let _ = job.done.send(Ok(id));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(job) = batch.into_iter().next() {
                    let _ = job.done.send(Err(e));
                }
            }
            Err(_) => {
                for job in batch {
                    let r = self
                        .write_intakes(&[(job.actor.as_str(), &*job.case)])
                        .await
                        .map(|ids| ids.first().copied().unwrap_or_default());
                    let _ = job.done.send(r);
                }
            }
        }
    }

    /// Writes prepared requests in one transaction: all or none. Returns
    /// their ids in order. Each table gets one multi-row INSERT per chunk,
    /// so a batch costs a handful of statements, not four per request.
    pub(crate) async fn write_intakes(&self, items: &[(&str, &NewCase)]) -> Result<Vec<i64>> {
        // 20 parameters a case: well under SQLite's 32,766 per statement.
        const CHUNK: usize = 500;
        let mut ids = Vec::with_capacity(items.len());
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            for chunk in items.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO service_case (channel, external_id, category_code, title, description, address, lon, lat, grid_id, scope_path,
                        reporter_name, reporter_account, reporter_phone_enc, reporter_phone_idx, reporter_phone_masked, state, level, response_due, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, (_, p)| {
                    b.push_bind(p.channel.code()).push_bind(&p.external_id)
                        .push_bind(&p.category).push_bind(&p.title).push_bind(&p.description).push_bind(&p.address)
                        .push_bind(p.lon).push_bind(p.lat).push_bind(p.grid).push_bind(&p.scope_path)
                        .push_bind(&p.reporter).push_bind(p.reporter_account).push_bind(&p.phone_enc).push_bind(&p.phone_idx).push_bind(&p.phone_masked)
                        .push_bind(p.facts.state.code()).push_bind(p.facts.level.code()).push_bind(p.response_due)
                        .push_bind(p.created).push_bind(p.created);
                });
                qb.push(" RETURNING id");
                let mut new_ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
                // Ids are handed out in the order of the rows; RETURNING
                // need not list them in that order.
                new_ids.sort_unstable();
                if new_ids.len() != chunk.len() {
                    return Err(StoreError::Config("intake: fewer ids than rows".into()));
                }
                let mut events = sqlx::QueryBuilder::new("INSERT INTO case_event (case_id, action, from_state, to_state, actor, note, data, at) ");
                let rows: Vec<(i64, &str, &NewCase, &'static str)> = chunk
                    .iter()
                    .zip(&new_ids)
                    .flat_map(|((actor, p), id)| {
                        let classify = p.category.is_some().then_some((*id, *actor, *p, "classify"));
                        std::iter::once((*id, *actor, *p, "register")).chain(classify)
                    })
                    .collect();
                events.push_values(&rows, |mut b, (id, actor, p, action)| {
                    let (from, to, note, data) = if *action == "register" {
                        ("", "registered", p.title.clone(),
                         serde_json::json!({"channel": p.channel.code(), "external_id": p.external_id}).to_string())
                    } else {
                        ("registered", "classified", p.category.clone().unwrap_or_default(), "{}".to_string())
                    };
                    b.push_bind(*id).push_bind(*action).push_bind(from).push_bind(to).push_bind(*actor)
                        .push_bind(note).push_bind(data).push_bind(p.created);
                });
                events.build().execute(&mut *tx).await?;
                let now = now_ms();
                let mut audit = sqlx::QueryBuilder::new("INSERT INTO audit_pending (at, actor, action, object, detail) ");
                audit.push_values(chunk.iter().zip(&new_ids), |mut b, ((actor, p), id)| {
                    b.push_bind(now).push_bind(*actor).push_bind("case.register")
                        .push_bind(format!("case:{id}")).push_bind(p.channel.code());
                });
                audit.build().execute(&mut *tx).await?;
                let mut rollup: Vec<(RollupKey, RateCounts)> = Vec::new();
                for (_, p) in chunk {
                    for (key, c) in rollup_change(None, Some(&p.figures())) {
                        match rollup.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, acc)) => acc.add(&c, 1),
                            None => rollup.push((key, c)),
                        }
                    }
                }
                rollup_in_tx!(tx, rollup.iter());
                ids.extend(new_ids);
            }
            tx.commit().await?;
        });
        Ok(ids)
    }

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
        let c = self.case(scope, id).await.map_err(|_| not_found())?;
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

    /// Takes one step on a case. `version` must be the version the caller
    /// saw: of two people acting at once exactly one wins, the other gets a
    /// conflict and sees the new state.
    pub async fn act(
        &self,
        scope: &Scope,
        actor: &str,
        id: i64,
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
        id: i64,
        version: i64,
        action: &Action,
        now: DateTime<Utc>,
    ) -> Result<CaseView> {
        let current = self.case_plain(scope, id).await?;
        if current.row.version != version {
            return Err(StoreError::Conflict(format!(
                "case {} changed (version {} now, you had {version}); reload it",
                current.row.code, current.row.version
            )));
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
                    .ok_or_else(|| StoreError::invalid("unit", "no dispatch rule or unit of the right kind serves this place; choose a unit"))?;
            } else if !self.units(scope).await?.iter().any(|u| u.id == *unit) {
                return Err(StoreError::invalid(
                    "unit",
                    format!("unit {unit} does not serve your area"),
                ));
            }
        }
        if let Action::Classify { category } = &action {
            self.leaf_category(category).await?;
        }
        if let Action::ReportBack { photos, .. } = &action {
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
                    ));
                }
            }
        }
        if let Action::Merge { parent } = &action {
            if *parent == id {
                return Err(StoreError::invalid(
                    "parent",
                    "a case cannot be merged into itself",
                ));
            }
            let p = self.case_plain(scope, *parent).await.map_err(|_| {
                StoreError::invalid("parent", format!("no case {parent} in your area"))
            })?;
            if matches!(
                State::parse(&p.row.state),
                Some(State::Merged | State::Refused)
            ) {
                return Err(StoreError::invalid(
                    "parent",
                    format!(
                        "case {} is {} and cannot take duplicates",
                        p.row.code, p.state_zh
                    ),
                ));
            }
        }
        let outcome = case::apply(&before, &action).map_err(step_error)?;
        let after = outcome.facts;
        let t = ms(now);
        let cal = self.calendar();
        let mut due_at = current.row.due_at;
        let mut response_due = current.row.response_due;
        let mut responded_at = current.row.responded_at;
        let mut closed_at = current.row.closed_at;
        // Only a new or moved deadline clears the overdue mark; the scan may
        // have set it since the case was read, so it is not written back.
        let mut clear_overdue = false;
        let category = match &after.category {
            Some(c) => Some(self.leaf_category(c).await?),
            None => None,
        };
        if response_due.is_none()
            && let Some(h) = category.as_ref().and_then(|c| c.response_hours)
        {
            response_due = Some(ms(
                cal.add_working_minutes(at(current.row.created_at), h.saturating_mul(60))
            ));
        }
        for e in &outcome.effects {
            match e {
                Effect::StartClock => {
                    let limit = category.as_ref().and_then(limit_of).ok_or_else(|| {
                        StoreError::invalid(
                            "category",
                            "the case needs a category with a time limit before it is opened",
                        )
                    })?;
                    due_at = Some(ms(cal.deadline(now, limit)));
                    clear_overdue = true;
                }
                Effect::ExtendDeadline(days) => {
                    let from = due_at.map(at).unwrap_or(now);
                    due_at = Some(ms(cal.add_working_days(from, *days)));
                    clear_overdue = true;
                }
                Effect::Responded => {
                    responded_at.get_or_insert(t);
                }
                Effect::Close => closed_at = Some(t),
                Effect::Unclose => closed_at = None,
            }
        }
        let data = serde_json::to_string(&action).unwrap_or_else(|_| "{}".into());
        let webhook = match (&action, after.unit) {
            (Action::Dispatch { .. }, Some(u)) => self
                .units(&Scope::Everything)
                .await?
                .into_iter()
                .find(|x| x.id == u)
                .and_then(|x| x.webhook_url),
            _ => None,
        };
        let code = current.row.code.clone();
        let mut next = current.row.clone();
        next.state = after.state.code().to_string();
        next.unit_id = after.unit;
        next.category_code = after.category.clone();
        next.resolution = after.resolution.map(|r| resolution_code(r).to_string());
        next.rating = after.rating.map(|r| r.code().to_string());
        next.response_due = response_due;
        next.due_at = due_at;
        next.responded_at = responded_at;
        next.closed_at = closed_at;
        next.rework_count = after.rework_count as i32;
        next.extension_count = after.extension_count as i32;
        let rollup = rollup_change(
            Some(&CaseFigures::of(&current.row)),
            Some(&CaseFigures::of(&next)),
        );
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
            .bind(after.resolution.map(resolution_code))
            .bind(after.rating.map(|r| r.code()))
            .bind(after.extension_pending.map(|d| d as i32))
            .bind(after.rework_count as i32).bind(after.reopen_count as i32).bind(after.supervision_count as i32)
            .bind(after.extension_count as i32).bind(after.escalation_count as i32)
            .bind(response_due).bind(due_at).bind(responded_at).bind(closed_at).bind(i32::from(clear_overdue))
            .bind(t).bind(id).bind(version)
            .execute(&mut *tx).await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("case {code} was changed by someone else just now; reload it")));
            }
            sqlx::query("INSERT INTO case_event (case_id, action, from_state, to_state, actor, note, data, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(id).bind(action.kind()).bind(before.state.code()).bind(after.state.code())
                .bind(actor).bind(action.note()).bind(&data).bind(t)
                .execute(&mut *tx).await?;
            if let Some(url) = &webhook {
                let payload = serde_json::json!({"event": "case.dispatched", "case_id": id, "code": code, "unit_id": after.unit, "at": t}).to_string();
                enqueue_in_tx!(tx, "case.dispatched", url, &payload, t);
            }
            append_in_tx!(tx, actor, &format!("case.{}", action.kind()), &format!("case:{id}"), action.note());
            rollup_in_tx!(tx, rollup.iter());
            tx.commit().await?;
        });
        self.case(scope, id).await
    }

    /// Marks open cases past their deadline as overdue, once each: an
    /// in-app alert for the case's area and a webhook to its unit, written
    /// in one transaction. Returns how many became overdue.
    pub async fn scan_overdue(&self, now: DateTime<Utc>) -> Result<u64> {
        let t = ms(now);
        type Due = (i64, i64, String, Option<i64>, i64);
        let due: Vec<Due> = with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, created_at, scope_path, unit_id, due_at FROM service_case
                 WHERE state IN ('opened','dispatched','handling','reported_back') AND due_at < $1 AND overdue_at IS NULL
                 ORDER BY due_at LIMIT 1000",
            ).bind(t).fetch_all(pool).await?
        });
        let units = self.units(&Scope::Everything).await?;
        let mut n = 0;
        for (id, created_at, path, unit, due_at) in due {
            let code = case_code(id, created_at);
            let url = unit
                .and_then(|u| units.iter().find(|x| x.id == u))
                .and_then(|u| u.webhook_url.clone());
            with_db!(&self.db, pool => {
                let mut tx = pool.begin_write().await?;
                let r = sqlx::query("UPDATE service_case SET overdue_at = $1 WHERE id = $2 AND overdue_at IS NULL")
                    .bind(t).bind(id).execute(&mut *tx).await?;
                if r.rows_affected() == 1 {
                    let msg = format!("工单 {code} 已超期 (overdue)");
                    sqlx::query("INSERT INTO alert (case_id, kind, scope_path, message, created_at) VALUES ($1, 'overdue', $2, $3, $4)")
                        .bind(id).bind(&path).bind(&msg).bind(t).execute(&mut *tx).await?;
                    if let Some(url) = &url {
                        let payload = serde_json::json!({"event": "case.overdue", "case_id": id, "code": code, "due_at": due_at, "at": t}).to_string();
                        enqueue_in_tx!(tx, "case.overdue", url, &payload, t);
                    }
                    n += 1;
                }
                tx.commit().await?;
            });
        }
        Ok(n)
    }

    /// In-app alerts for the scope, newest first.
    pub async fn alerts(
        &self,
        scope: &Scope,
        limit: i64,
    ) -> Result<Vec<(i64, i64, String, String, i64)>> {
        let (lo, hi) = scope.bounds();
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, case_id, kind, message, created_at FROM alert WHERE scope_path >= $1 AND scope_path < $2 ORDER BY id DESC LIMIT $3")
                .bind(lo).bind(hi).bind(limit.clamp(1, 500)).fetch_all(pool).await?
        }))
    }
}

/// "/1/4/17/" → ["/1/4/17/", "/1/4/", "/1/"]: nearest first.
fn ancestor_paths(path: &str) -> Vec<String> {
    let ids: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    (1..=ids.len())
        .rev()
        .map(|n| format!("/{}/", ids[..n].join("/")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_nearest_first() {
        assert_eq!(ancestor_paths("/1/4/17/"), vec!["/1/4/17/", "/1/4/", "/1/"]);
        assert!(ancestor_paths("/").is_empty());
    }

    #[test]
    fn codes_round_trip() {
        // 2026-11-22 20:00 UTC is 23-Nov 04:00 in Beijing.
        let t = Utc
            .with_ymd_and_hms(2026, 11, 22, 20, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(case_code(42, t), "GD202611230000042");
        assert_eq!(id_from_code("GD202611230000042"), Some(42));
        assert_eq!(id_from_code("GD2026112312345678"), Some(12345678));
        assert_eq!(id_from_code("XX202611230000042"), None);
        assert_eq!(id_from_code("GD2026"), None);
    }

    #[test]
    fn channels() {
        assert_eq!(
            Channel::parse("hotline_12345").unwrap(),
            Channel::Hotline12345
        );
        assert!(Channel::parse("fax").is_err());
    }
}
