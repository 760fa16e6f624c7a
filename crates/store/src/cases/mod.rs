//! Requests and cases (诉求/工单): intake from every channel, the closed
//! loop decided by [`linli_core::case::apply`], deadlines on the working-day
//! calendar, dispatch rules, overdue detection. One file a job:
//!
//! - [`intake`]: checking and writing new requests (group commit);
//! - [`read`]: one case, a filtered list, a timeline;
//! - [`act`]: a step of the loop on one case;
//! - [`units_dispatch`]: handling units and dispatch rules;
//! - [`alerts`]: the overdue scan and in-app alerts;
//! - [`todo`]: to-do counts (待办) in the caller's area.
//!
//! The rules themselves (states, deadlines, dispatch choice, channels,
//! codes) are in `linli_core`; this module reads and writes them.

mod act;
mod alerts;
pub use alerts::Alert;
mod intake;
mod read;
pub use read::{CaseOriginals, MAX_OFFSET, OriginalText};
mod follow;
mod todo;
pub use follow::NearbyCase;
mod units_dispatch;

use chrono::{DateTime, Utc};
use linli_core::case::{self, Facts, Level, Rating, Resolution, State, StepError};
use serde::{Deserialize, Serialize};

pub(crate) use intake::{IntakeQueue, NewCase, Prepared};
pub use linli_core::intake::{Channel, case_code, id_from_code};
pub use units_dispatch::{DispatchRuleView, HandlingUnit};

use crate::{Result, StoreError};

/// A request as it arrives.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
pub struct NewRequest {
    /// Required, except in a hotline batch (always 12345 there).
    #[serde(default)]
    #[schemars(with = "linli_core::intake::Channel")]
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
    /// Contact details beyond a mainland mobile (an e-mail, a landline or
    /// foreign number, a device id), as given: personal, so sealed with
    /// the originals of the text and shown only on an audited view.
    #[serde(default)]
    pub other_contact: Option<String>,
    /// What a channel sent that has no column of its own (Open311
    /// attributes, a photo link): kept in the register event's data.
    #[serde(default)]
    pub details: std::collections::BTreeMap<String, String>,
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
    pub allowed: Vec<case::ActionKind>,
    /// The staff of the case's grid (网格员, 网格长), found from its place;
    /// filled when one case is read, empty in lists.
    pub grid_staff: Vec<crate::org::PostView>,
}

impl CaseView {
    /// The case as a resident who joined it sees it (我也遇到): what is
    /// being done and by when, nothing another resident wrote or is.
    pub fn for_follower(mut self) -> CaseView {
        let r = &mut self.row;
        r.title = r.category_name.clone().unwrap_or_default();
        r.description.clear();
        r.address.clear();
        r.lon = None;
        r.lat = None;
        r.reporter_name = None;
        r.reporter_account = None;
        r.reporter_phone_masked = None;
        r.external_id = None;
        self.allowed.clear();
        self.grid_staff.clear();
        self
    }
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

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub state: Option<State>,
    pub category: Option<String>,
    pub grid_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub overdue: bool,
    /// Only cases still owed work (true) or only finished ones (false);
    /// see `State::is_open`.
    pub open: Option<bool>,
    pub channel: Option<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub limit: i64,
    pub offset: i64,
    /// Only cases with a smaller id (paging through an export).
    pub before_id: Option<i64>,
    /// Only the cases of this to-do (待办), counted alike by
    /// [`crate::Store::todo_counts`].
    pub todo: Option<linli_core::todo::Todo>,
    /// Words in the title or the address (both as stored: masked).
    pub keyword: Option<String>,
    /// The reporter's phone, by its blind index: only
    /// [`crate::Store::cases_by_phone`] makes one, and audits the look-up.
    pub reporter_phone_idx: Option<PhoneIndex>,
    /// The order of the list; [`CaseOrder::DueFirst`] lists open cases only.
    pub order: CaseOrder,
}

/// How a case list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseOrder {
    /// Newest first (by id, or for a period by the time registered).
    #[default]
    Newest,
    /// The open cases with a deadline (dispatched ones), the one whose
    /// deadline comes first (the least time left) first.
    DueFirst,
}

impl CaseOrder {
    /// Spelt in URLs as `sort=due`; anything else is newest first.
    pub fn parse(s: &str) -> Option<CaseOrder> {
        match s {
            "" | "new" | "newest" => Some(CaseOrder::Newest),
            "due" => Some(CaseOrder::DueFirst),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            CaseOrder::Newest => "new",
            CaseOrder::DueFirst => "due",
        }
    }
}

/// The blind index of a phone, as a case filter holds it. Made only by the
/// store, so that no handler can look cases up by phone without the audit.
#[derive(Debug, Clone)]
pub struct PhoneIndex(pub(crate) Vec<u8>);

fn facts_of(r: &CaseRow) -> Result<Facts> {
    let bad = |what: &str| StoreError::Config(format!("case {} has an unknown {what}", r.id));
    Ok(Facts {
        state: State::parse(&r.state).ok_or_else(|| bad("state"))?,
        level: Level::parse(&r.level).ok_or_else(|| bad("level"))?,
        category: r.category_code.clone(),
        unit: r.unit_id,
        resolution: match r.resolution.as_deref() {
            None => None,
            Some(x) => Some(Resolution::parse(x).ok_or_else(|| bad("resolution"))?),
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

fn step_error(e: StepError) -> StoreError {
    match e {
        StepError::NotAllowed {
            action, state_zh, ..
        } => {
            let en = e.to_string();
            StoreError::conflict(
                en,
                format!(
                    "工单现为“{state_zh}”，不能{}",
                    linli_core::case::action_label(action).0
                ),
            )
        }
        StepError::Invalid { field, message } => StoreError::invalid_msg(field, message),
    }
}
