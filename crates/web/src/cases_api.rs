//! JSON API of the closed loop under /api/v1: intake, the case list and
//! page, actions with optimistic versions, timeline, categories, units,
//! dispatch rules, rates, alerts, calendar, 12345 hotline batch import.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use linli_core::access::Permission;
use linli_core::case::{Action, ActionKind, State as CaseState};
use linli_core::category::Category;
use linli_core::ids::{CaseId, OrgId, UnitId};
use linli_core::ledger::LedgerKind;
use linli_core::rates::Rates;
use linli_core::todo::Todo;
use linli_store::cases::{
    Alert, CaseEvent, CaseFilter, CaseOrder, CaseOriginals, CaseView, HandlingUnit, NewRequest,
};
use linli_store::import::{ImportReport, TableFormat, parse_ledger};
use linli_store::photos::PhotoRef;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::{json_body, param, require_everything, time_param, utf8_body};
use crate::authz::{Api, Rule};
use crate::doc::{File, HotlineBatch, Image, JsonBody, JsonDocument, QueryOf, Upload};
use crate::error::Path;
use crate::{AppError, AppState, Caller};

/// The closed loop's operations with the permission each needs.
pub fn api() -> Api {
    use Permission::*;
    use Rule::*;
    Api::new("cases")
        .get("/cases", Needs(ReadCases), list)
        .about("Cases in your area, newest first")
        .post("/cases", Needs(RegisterCase), intake)
        .about("Register a request (诉求) from a channel")
        .get("/cases/{id}", Needs(ReadCases), one)
        .about("One case with the actions allowed now")
        .get("/todo", Needs(ReadCases), todo)
        .about("Your to-do list (待办): what waits for you, with counts")
        .get("/cases/{id}/timeline", Needs(ReadCases), timeline)
        .about("Every step: who, when, why")
        .post("/cases/{id}/unmask", Needs(Unmask), case_unmask)
        .about("Reporter's name and phone and the originals of masked free text; audited")
        .post("/cases/{id}/actions", Needs(ActOnCase), act)
        .about("Take a step; 409 if the version is stale or the step is not allowed now")
        .get("/cases/{id}/photos", Needs(ReadCases), photos)
        .about("The photos of a case (URLs and metadata)")
        .post("/cases/{id}/photos", Needs(AddPhoto), upload_photo)
        .about("Upload a photo (the body is the JPEG, PNG or WebP image, at most 10 MiB); answers its URL for report_back.photos")
        .get("/photos/{id}", Needs(ReadCases), photo)
        .about("One photo (its bytes, with its checked content type)")
        .get("/categories", SignedIn, categories)
        .about("Active two-level categories with limits")
        .put("/categories", Needs(ManageSettings), replace_categories)
        .about("Replace the category taxonomy (whole-tree callers); categories in use are deactivated, not deleted")
        .get("/units", Needs(ReadCases), units)
        .about("Handling units serving your area")
        .post("/units", Needs(ManageSettings), create_unit)
        .about("Register a handling unit")
        .post("/dispatch-rules", Needs(ManageSettings), dispatch_rule)
        .about("category × place → unit")
        .get("/rates", Needs(ReadRates), rates)
        .about("Rates by unit for cases registered in [from, to)")
        .get("/alerts", Needs(ReadRates), alerts)
        .about("In-app alerts (overdue)")
        .get("/calendar", SignedIn, calendar)
        .about("Years of the working-day calendar")
        .post("/calendar", Needs(ManageSettings), extend_calendar)
        .about("Add or replace calendar years (whole-tree callers)")
        .post("/import/hotline", Needs(ImportCases), import_hotline)
        .about("12345 hotline tickets: a JSON array, or the platform's own export (Chinese headers, CSV in UTF-8/GBK, .xlsx, .xls); all checked first")
        .get(
            "/hotline-categories",
            Needs(ImportCases),
            hotline_categories,
        )
        .about("The 12345 category mapping: the category text a hotline platform writes → a linli category code")
        .put(
            "/hotline-categories",
            Needs(ImportCases),
            replace_hotline_categories,
        )
        .about("Replace the 12345 category mapping (each target must be a leaf category; audited)")
}

async fn intake(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewRequest>,
) -> Result<Json<CaseOut>, AppError> {
    Ok(Json(
        s.store
            .intake(&caller.scope, &caller.actor, &req)
            .await?
            .into(),
    ))
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<CaseListQuery>,
) -> Result<Json<Vec<CaseOut>>, AppError> {
    let list = s.store.cases(&caller.scope, &case_filter(&q)?).await?;
    Ok(Json(list.into_iter().map(CaseOut::from).collect()))
}

/// The filters of a case list (the API's list, its export, the queue page).
pub(crate) fn case_filter(q: &HashMap<String, String>) -> Result<CaseFilter, AppError> {
    let f = keyword_window(CaseFilter {
        keyword: q
            .get("keyword")
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty()),
        state: state_param(q)?,
        category: q.get("category").filter(|v| !v.is_empty()).cloned(),
        grid_id: param(q, "grid_id")?,
        unit_id: param(q, "unit_id")?,
        overdue: matches!(q.get("overdue").map(String::as_str), Some("1" | "true")),
        channel: q.get("channel").filter(|v| !v.is_empty()).cloned(),
        created_from: time_param(q, "from")?,
        created_to: time_param(q, "to")?,
        limit: param(q, "limit")?.unwrap_or(50),
        offset: param(q, "offset")?.unwrap_or(0),
        // Keyset paging: the cases after the given one (the last id of the
        // previous page), in the list's order.
        before_id: param(q, "before")?,
        open: None,
        todo: match q.get("todo").filter(|v| !v.is_empty()) {
            Some(v) => Some(Todo::parse(v).ok_or_else(|| {
                AppError::invalid(
                    "todo",
                    format!("unknown to-do '{v}'"),
                    format!("没有“{v}”这个待办"),
                )
            })?),
            None => None,
        },
        reporter_phone_idx: None,
        order: match q.get("sort") {
            None => CaseOrder::Newest,
            Some(v) => CaseOrder::parse(v).ok_or_else(|| {
                AppError::invalid(
                    "sort",
                    format!("unknown order '{v}' (new or due)"),
                    format!("没有“{v}”这种排序（可选：最新登记在前、剩余时间最少在前）"),
                )
            })?,
        },
    });
    // A list by deadline pages by number (offset), not by key.
    if f.order == CaseOrder::DueFirst && f.before_id.is_some() {
        return Err(AppError::invalid(
            "before",
            "sort=due pages with offset, not before",
            "按剩余时间排序时请按页码翻页",
        ));
    }
    Ok(f)
}

/// A keyword search reads titles and addresses one by one, so without a
/// period of its own it looks at the last 90 days only (a district holds
/// millions of cases).
pub(crate) fn keyword_window(mut f: CaseFilter) -> CaseFilter {
    if f.keyword.is_some() && f.created_from.is_none() && f.created_to.is_none() {
        f.created_from = Some(chrono::Utc::now().timestamp_millis() - KEYWORD_WINDOW_MS);
    }
    f
}

/// How far back a keyword search without a period looks.
pub(crate) const KEYWORD_WINDOW_MS: i64 = 90 * 86_400_000;

/// The caller's to-do list (待办) with its counts: what waits for them.
async fn todo(State(s): State<AppState>, caller: Caller) -> Result<Json<Vec<TodoOut>>, AppError> {
    let counts = s
        .store
        .todo_counts(&caller.scope, &Todo::for_role(caller.role))
        .await?;
    Ok(Json(
        counts
            .into_iter()
            .map(|(t, n)| TodoOut {
                todo: t.code(),
                label_zh: t.label_zh(),
                label_en: t.label_en(),
                count: n,
                alarm: t.is_alarm(),
            })
            .collect(),
    ))
}

/// The `state` filter of a case list, if given.
pub(crate) fn state_param(q: &HashMap<String, String>) -> Result<Option<CaseState>, AppError> {
    match q.get("state").filter(|v| !v.is_empty()) {
        Some(v) => Ok(Some(CaseState::parse(v).ok_or_else(|| {
            AppError::invalid(
                "state",
                format!("unknown state '{v}'"),
                format!("没有“{v}”这个状态"),
            )
        })?)),
        None => Ok(None),
    }
}

async fn one(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<CaseOut>, AppError> {
    Ok(Json(s.store.case(&caller.scope, id).await?.into()))
}

/// POST /cases/{id}/unmask: the reporter's phone and the originals of
/// masked free text, with a reason (audited first).
async fn case_unmask(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<crate::api::UnmaskBody>,
) -> Result<Json<CaseOriginals>, AppError> {
    Ok(Json(
        s.store
            .case_originals(
                &caller.scope,
                id,
                &caller.actor,
                b.reason.as_deref().unwrap_or(""),
            )
            .await?,
    ))
}

/// POST /cases/{id}/photos: the body is the image itself (JPEG, PNG or
/// WebP, known by its bytes); answers its URL for a report back.
async fn upload_photo(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Upload(body, _): Upload<Image>,
) -> Result<Json<PhotoOut>, AppError> {
    let p = s
        .store
        .add_photo(&caller.scope, &caller.actor, id, &body)
        .await?;
    Ok(Json(PhotoOut::from(p)))
}

/// A photo of a case: where to fetch it, and what is known of it.
#[derive(Serialize, JsonSchema)]
struct PhotoOut {
    /// GET it (signed in, in your area) for the image.
    url: String,
    photo: PhotoRef,
}

impl From<PhotoRef> for PhotoOut {
    fn from(photo: PhotoRef) -> PhotoOut {
        PhotoOut {
            url: photo.url(),
            photo,
        }
    }
}

async fn photos(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<PhotoOut>>, AppError> {
    let list = s.store.photos(&caller.scope, id).await?;
    Ok(Json(list.into_iter().map(PhotoOut::from).collect()))
}

/// GET /photos/{id}: the image, with its checked type and no sniffing.
async fn photo(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<File<Image>, AppError> {
    use axum::response::IntoResponse;
    let (ty, bytes) = s.store.photo(&caller.scope, id).await?;
    Ok(File::new(
        (
            [
                (header::CONTENT_TYPE, ty),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            bytes,
        )
            .into_response(),
    ))
}

async fn timeline(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<EventOut>>, AppError> {
    let events = s.store.timeline(&caller.scope, id).await?;
    Ok(Json(events.into_iter().map(EventOut::from).collect()))
}

#[derive(Deserialize, JsonSchema)]
struct ActBody {
    version: i64,
    #[serde(flatten)]
    action: Action,
}

/// Refuses a step of the loop the role may not take (whatever the state).
pub(crate) fn require_step(
    role: linli_core::access::Role,
    kind: linli_core::case::ActionKind,
) -> Result<(), AppError> {
    if linli_core::access::may_take(role, kind) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            format!("a {} may not take the step '{}'", role.code(), kind.code()),
            format!(
                "{}不能办理“{}”",
                role.label_zh(),
                linli_core::case::action_label(kind.code()).0
            ),
        ))
    }
}

/// POST {"version": 3, "action": "dispatch", "unit": 7}. A stale version
/// answers 409 with the reason; an illegal step 409; bad data 422.
async fn act(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<CaseId>,
    JsonBody(b): JsonBody<ActBody>,
) -> Result<Json<CaseOut>, AppError> {
    require_step(caller.role, b.action.kind())?;
    Ok(Json(
        s.store
            .act(&caller.scope, &caller.actor, id, b.version, &b.action)
            .await?
            .into(),
    ))
}

async fn categories(
    State(s): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<Category>>, AppError> {
    Ok(Json(s.store.categories().await?))
}

/// The 12345 category mapping: {"platform's text": "linli code"}.
async fn hotline_categories(
    State(s): State<AppState>,
) -> Result<Json<BTreeMap<String, String>>, AppError> {
    Ok(Json(s.store.hotline_categories().await?))
}

/// Replaces the 12345 category mapping; kept by those who import 12345
/// batches, audited.
async fn replace_hotline_categories(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(map): JsonBody<std::collections::BTreeMap<String, String>>,
) -> Result<Json<BTreeMap<String, String>>, AppError> {
    s.store.save_hotline_categories(&caller.actor, &map).await?;
    Ok(Json(s.store.hotline_categories().await?))
}

/// Replaces the taxonomy (format of crates/core/data/categories.json);
/// categories in use stay, deactivated. Whole-tree callers only.
async fn replace_categories(
    State(s): State<AppState>,
    caller: Caller,
    Upload(body, _): Upload<JsonDocument>,
) -> Result<Json<CategoriesSaved>, AppError> {
    require_everything(&caller)?;
    let text = utf8_body(&body, "categories JSON")?;
    let t = linli_core::category::Taxonomy::from_json(text)
        .map_err(|e| AppError::invalid_msg("categories", e))?;
    s.store.save_categories(&caller.actor, &t).await?;
    Ok(Json(CategoriesSaved {
        categories: t.categories.len(),
    }))
}

#[derive(Serialize, JsonSchema)]
struct CategoriesSaved {
    /// How many categories the new taxonomy has.
    categories: usize,
}

async fn units(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<HandlingUnit>>, AppError> {
    Ok(Json(s.store.units(&caller.scope).await?))
}

#[derive(Deserialize, JsonSchema)]
struct NewUnit {
    org_id: i64,
    name: String,
    kind: String,
    webhook_url: Option<String>,
}

async fn create_unit(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewUnit>,
) -> Result<Json<HandlingUnit>, AppError> {
    Ok(Json(
        s.store
            .create_unit(
                &caller.scope,
                b.org_id,
                &b.name,
                &b.kind,
                b.webhook_url.as_deref(),
            )
            .await?,
    ))
}

#[derive(Deserialize, JsonSchema)]
struct NewRule {
    category: String,
    org_id: OrgId,
    unit_id: UnitId,
}

async fn dispatch_rule(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewRule>,
) -> Result<Json<Done>, AppError> {
    s.store
        .set_dispatch_rule(&caller.scope, &b.category, b.org_id, b.unit_id)
        .await?;
    Ok(Json(Done { ok: true }))
}

/// What a change with nothing else to say answers.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Done {
    pub(crate) ok: bool,
}

/// GET /rates?period=2026|2026-Q3|2026-07, or ?from=MS&to=MS (default: the last 30 days).
async fn rates(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<RatesQuery>,
) -> Result<Json<RatesOut>, AppError> {
    let now = chrono::Utc::now().timestamp_millis();
    let named = match q.get("period").map(|p| p.trim()).filter(|p| !p.is_empty()) {
        Some(p) => Some(
            linli_core::period::parse_period(p).map_err(|e| AppError::invalid_msg("period", e))?,
        ),
        None => None,
    };
    let to = match named {
        Some((_, to)) => to,
        None => time_param(&q, "to")?.unwrap_or(now + 1),
    };
    let from = match named {
        Some((from, _)) => from,
        None => time_param(&q, "from")?.unwrap_or(to.saturating_sub(30 * 86_400_000)),
    };
    if from >= to {
        return Err(AppError::invalid(
            "from",
            "must be before 'to'",
            "开始时间须早于结束时间",
        ));
    }
    let (by_unit, total) = s.store.rates(&caller.scope, from, to).await?;
    Ok(Json(RatesOut {
        from,
        to,
        by_unit,
        total,
    }))
}

/// The closed loop's rates (响应率, 办结率, 满意率 …) over a period.
#[derive(Serialize, JsonSchema)]
struct RatesOut {
    /// The period, ms since 1970 (from inclusive, to exclusive).
    from: i64,
    to: i64,
    by_unit: Vec<Rates>,
    total: Rates,
}

async fn alerts(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<AlertsQuery>,
) -> Result<Json<Vec<Alert>>, AppError> {
    let rows = s
        .store
        .alerts(&caller.scope, param(&q, "limit")?.unwrap_or(50))
        .await?;
    Ok(Json(rows))
}

async fn calendar(
    State(s): State<AppState>,
    _caller: Caller,
) -> Result<Json<CalendarOut>, AppError> {
    let cal = s.store.calendar();
    Ok(Json(CalendarOut {
        zone: "Asia/Shanghai",
        years: cal.years().iter().copied().collect(),
    }))
}

/// The working calendar (工作日历) deadlines are counted in.
#[derive(Serialize, JsonSchema)]
struct CalendarOut {
    zone: &'static str,
    /// The years whose holidays and make-up working days are known.
    years: Vec<i32>,
}

async fn extend_calendar(
    State(s): State<AppState>,
    caller: Caller,
    Upload(body, _): Upload<JsonDocument>,
) -> Result<Json<CalendarSaved>, AppError> {
    require_everything(&caller)?;
    let text = utf8_body(&body, "calendar JSON")?;
    let years = s.store.extend_calendar(&caller.actor, text).await?;
    Ok(Json(CalendarSaved { years }))
}

#[derive(Serialize, JsonSchema)]
struct CalendarSaved {
    /// The years the file added or replaced.
    years: Vec<i32>,
}

/// 12345 hotline batch: a JSON array of requests, or CSV with the same
/// field names as columns. Every row is checked first; any bad row and
/// nothing is registered. Tickets already received are skipped.
async fn import_hotline(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<ImportHotlineQuery>,
    headers: HeaderMap,
    Upload(body, _): Upload<HotlineBatch>,
) -> Result<Json<ImportReport>, AppError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // A JSON array, or a table as the 12345 platform exports it (CSV in
    // UTF-8 or GBK, .xlsx, .xls) with its Chinese headers.
    let format = q.get("format").map(String::as_str);
    let is_json = format == Some("json")
        || (format.is_none() && (ct.contains("json") || body.trim_ascii_start().starts_with(b"[")));
    let report = if is_json {
        let list: Vec<NewRequest> = json_body(&body)?;
        let rows = list
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i + 1, r.into()))
            .collect();
        s.store
            .import_hotline(&caller.scope, &caller.actor, rows)
            .await?
    } else {
        let format = match format {
            Some("xlsx" | "xls") => TableFormat::Xlsx,
            Some("csv" | "tsv") => TableFormat::Csv,
            _ => TableFormat::sniff(&body),
        };
        let t = parse_ledger(body, format, LedgerKind::Hotline, q.get("sheet").cloned()).await?;
        s.store
            .import_hotline_table(&caller.scope, &caller.actor, &t)
            .await?
    };
    if report.committed {
        Ok(Json(report))
    } else {
        Err(AppError::Rows(report.errors))
    }
}

// The query strings, as the document shows them.

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct ImportHotlineQuery {
    /// json|csv|tsv|xlsx|xls; without it the Content-Type or the body's first bytes decide
    #[schemars(extend("enum" = ["json", "csv", "tsv", "xlsx", "xls"]))]
    format: Option<String>,
    /// The worksheet of a workbook; default: the first with a recognisable header
    sheet: Option<String>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct CaseListQuery {
    /// Words in the title, description or address (without from/to: the last 90 days)
    keyword: Option<String>,
    /// new (newest first, the default) or due (least time left first; pages with offset)
    #[schemars(extend("enum" = ["new", "due"]))]
    sort: Option<String>,
    state: Option<CaseState>,
    category: Option<String>,
    grid_id: Option<i64>,
    unit_id: Option<i64>,
    /// 1 = overdue only
    overdue: Option<String>,
    channel: Option<linli_core::intake::Channel>,
    /// ms since 1970 (a date such as 2026-12-08, midnight in Beijing, is also accepted)
    #[schemars(with = "Option<String>")]
    from: Option<i64>,
    /// ms since 1970 (a date such as 2026-12-08, midnight in Beijing, is also accepted)
    #[schemars(with = "Option<String>")]
    to: Option<i64>,
    limit: Option<i64>,
    /// Rows to skip (at most 10,000; page on with `before` instead).
    #[schemars(range(min = 0, max = 10000))]
    offset: Option<i64>,
    /// Keyset paging: the cases after this one in the list's order (the id of the last case of the previous page). Newest first: by id, or within a from/to period by the time registered.
    before: Option<i64>,
    /// Only the cases of this to-do (待办), as counted by GET /todo.
    todo: Option<Todo>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct RatesQuery {
    /// a Beijing year, quarter or month: 2026, 2026-Q3, 2026-07 (instead of from/to)
    period: Option<String>,
    /// ms since 1970 (a date such as 2026-12-08, midnight in Beijing, is also accepted)
    #[schemars(with = "Option<String>")]
    from: Option<i64>,
    /// ms since 1970 (a date such as 2026-12-08, midnight in Beijing, is also accepted)
    #[schemars(with = "Option<String>")]
    to: Option<i64>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct AlertsQuery {
    limit: Option<i64>,
}

// The answers, as the document shows them: built from the store's rows,
// so a column added to a row does not leave through the API unseen.

/// A case (工单) as the API shows it, with what the caller may do now.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CaseOut {
    id: i64,
    /// GD + registration date (Beijing) + id, e.g. GD202611220000042.
    code: String,
    #[schemars(with = "linli_core::intake::Channel")]
    channel: String,
    /// The ticket number in the channel it came from (a 12345 ticket).
    external_id: Option<String>,
    category_code: Option<String>,
    category_name: Option<String>,
    title: String,
    /// Phone and ID numbers in it are masked; POST cases/{id}/unmask shows them.
    description: String,
    address: String,
    lon: Option<f64>,
    lat: Option<f64>,
    grid_id: Option<i64>,
    grid_name: Option<String>,
    /// The org path of its grid (its place in the tree).
    scope_path: String,
    /// Masked (王**).
    reporter_name: Option<String>,
    /// The resident account that reported it, for portal reports.
    reporter_account: Option<i64>,
    reporter_phone_masked: Option<String>,
    #[schemars(with = "CaseState")]
    state: String,
    state_zh: &'static str,
    #[schemars(with = "linli_core::case::Level")]
    level: String,
    unit_id: Option<i64>,
    unit_name: Option<String>,
    /// The case it was merged into.
    parent_id: Option<i64>,
    resolution: Option<String>,
    #[schemars(with = "Option<linli_core::case::Rating>")]
    rating: Option<String>,
    /// Days of an extension asked for and not yet decided.
    extension_pending: Option<i32>,
    rework_count: i32,
    reopen_count: i32,
    supervision_count: i32,
    extension_count: i32,
    escalation_count: i32,
    /// Times in ms since 1970.
    response_due: Option<i64>,
    due_at: Option<i64>,
    responded_at: Option<i64>,
    closed_at: Option<i64>,
    overdue_at: Option<i64>,
    /// Send it back with an action: a step on an older version is refused (409).
    version: i64,
    created_at: i64,
    updated_at: i64,
    overdue: bool,
    /// The steps the caller may take now.
    allowed: Vec<ActionKind>,
    /// The staff of the case's grid (网格员, 网格长); filled when one case is read.
    grid_staff: Vec<GridStaffOut>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct GridStaffOut {
    post_id: i64,
    grid_id: i64,
    grid_name: String,
    staff_id: i64,
    staff_name: String,
    title: String,
}

impl From<CaseView> for CaseOut {
    fn from(v: CaseView) -> CaseOut {
        let r = v.row;
        CaseOut {
            id: r.id,
            code: r.code,
            channel: r.channel,
            external_id: r.external_id,
            category_code: r.category_code,
            category_name: r.category_name,
            title: r.title,
            description: r.description,
            address: r.address,
            lon: r.lon,
            lat: r.lat,
            grid_id: r.grid_id,
            grid_name: r.grid_name,
            scope_path: r.scope_path,
            reporter_name: r.reporter_name,
            reporter_account: r.reporter_account,
            reporter_phone_masked: r.reporter_phone_masked,
            state: r.state,
            state_zh: v.state_zh,
            level: r.level,
            unit_id: r.unit_id,
            unit_name: r.unit_name,
            parent_id: r.parent_id,
            resolution: r.resolution,
            rating: r.rating,
            extension_pending: r.extension_pending,
            rework_count: r.rework_count,
            reopen_count: r.reopen_count,
            supervision_count: r.supervision_count,
            extension_count: r.extension_count,
            escalation_count: r.escalation_count,
            response_due: r.response_due,
            due_at: r.due_at,
            responded_at: r.responded_at,
            closed_at: r.closed_at,
            overdue_at: r.overdue_at,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            overdue: v.overdue,
            allowed: v.allowed,
            grid_staff: v
                .grid_staff
                .into_iter()
                .map(|p| GridStaffOut {
                    post_id: p.post_id,
                    grid_id: p.grid_id,
                    grid_name: p.grid_name,
                    staff_id: p.staff_id,
                    staff_name: p.staff_name,
                    title: p.title,
                })
                .collect(),
        }
    }
}

/// One step in a case's timeline.
#[derive(Serialize, JsonSchema)]
pub(crate) struct EventOut {
    id: i64,
    case_id: i64,
    /// The step's code (register, classify, dispatch, …).
    action: String,
    /// The state before the step (a State code); empty for the first step.
    from_state: String,
    #[schemars(with = "CaseState")]
    to_state: String,
    actor: String,
    note: String,
    /// The step's own data as JSON text.
    data: String,
    at: i64,
}

impl From<CaseEvent> for EventOut {
    fn from(e: CaseEvent) -> EventOut {
        EventOut {
            id: e.id,
            case_id: e.case_id,
            action: e.action,
            from_state: e.from_state,
            to_state: e.to_state,
            actor: e.actor,
            note: e.note,
            data: e.data,
            at: e.at,
        }
    }
}

/// One to-do (待办) with how many cases wait in it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct TodoOut {
    #[schemars(with = "Todo")]
    todo: &'static str,
    label_zh: &'static str,
    label_en: &'static str,
    count: i64,
    /// Past a deadline or a resident's complaint: shown in red.
    alarm: bool,
}
