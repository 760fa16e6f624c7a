//! Pages of the request loop: a resident's report and their requests, the
//! one-window intake, the case queue, a case with its timeline and the
//! steps allowed now.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use linli_core::access::may_take;
use linli_core::case::{Action, ActionKind, State as CaseState, action_label};
use linli_core::category::Category;
use linli_core::ids::{AccountId, CaseId};
use linli_core::todo::Todo;
use linli_store::Scope;
use linli_store::cases::{
    CaseEvent, CaseFilter, CaseOriginals, CaseView, HandlingUnit, NewRequest,
};
use linli_store::photos::{PhotoRef, check_photo};
use serde_json::{Value, json};

use super::form::FormState;
use super::{Chrome, Lang, PageCtx, PageError, PageNumbers, Pager, Viewer, render};
use crate::{AppError, AppState};

pub use linli_core::period::beijing_minute as beijing;

pub fn state_label(l: Lang, code: &str) -> String {
    match CaseState::parse(code) {
        Some(s) => l.t(s.label_zh(), s.label_en()).to_string(),
        None => code.to_string(),
    }
}

/// An upload over the page forms' limit (a photo and its form).
fn too_big() -> AppError {
    let mb = linli_store::photos::MAX_PHOTO_BYTES / 1_048_576;
    AppError::invalid(
        "photo",
        format!("the upload is larger than the limit of {mb} MB; choose a smaller photo"),
        format!("上传的内容超过{mb} MB上限，请选择小一些的照片"),
    )
}

fn not_a_number(field: &str, v: &str) -> AppError {
    AppError::invalid(
        field,
        format!("'{v}' is not a number"),
        format!("“{v}”不是数字"),
    )
}

/// The fields of a multipart form, and its photo if one was chosen.
pub(crate) struct Posted {
    pub fields: HashMap<String, String>,
    pub photo: Option<Vec<u8>>,
}

impl Posted {
    pub async fn read(mut m: Multipart) -> Result<Posted, PageError> {
        let bad = |e: axum::extract::multipart::MultipartError| {
            PageError(if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                too_big()
            } else {
                AppError::bad_request(
                    format!("the form did not arrive whole: {e}"),
                    "表单没有完整送达，请重新提交",
                )
            })
        };
        let mut fields = HashMap::new();
        let mut photo = None;
        while let Some(field) = m.next_field().await.map_err(bad)? {
            let name = field.name().unwrap_or("").to_string();
            if name == "photo" || name == "file" {
                let bytes = field.bytes().await.map_err(bad)?;
                if !bytes.is_empty() {
                    photo = Some(bytes.to_vec());
                }
            } else {
                let text = field.text().await.map_err(bad)?;
                fields.insert(name, text);
            }
        }
        Ok(Posted { fields, photo })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, PageError> {
        match self.get(name) {
            None => Ok(None),
            // The parse error of a generic T says nothing more than this.
            Some(v) => match v.parse() {
                Ok(x) => Ok(Some(x)),
                Err(_) => Err(PageError(not_a_number(name, v))),
            },
        }
    }

    /// A chosen photo is checked before anything is written, so a bad
    /// file never leaves a case without its picture.
    fn checked_photo(&self) -> Result<Option<&[u8]>, PageError> {
        match &self.photo {
            None => Ok(None),
            Some(b) => {
                check_photo(b)?;
                Ok(Some(b))
            }
        }
    }
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    c: Chrome,
    intake: bool,
    channel: String,
    categories: Vec<Category>,
    places: Vec<(String, f64, f64)>,
    grids: Vec<(String, String)>,
    /// The values sent and what was wrong, when the form comes back.
    form: FormState,
    /// A photo was chosen but the form came back: browsers do not keep
    /// a chosen file, so the page asks for it again.
    photo_again: bool,
    max_description: usize,
    max_title: usize,
    max_address: usize,
    max_photo_bytes: usize,
}

impl ReportPage {
    fn tiles(&self) -> String {
        super::tile_url()
    }
    fn category_label(&self, c: &Category) -> String {
        let parent = self
            .categories
            .iter()
            .find(|p| Some(&p.code) == c.parent.as_ref())
            .map(|p| self.c.l.t(&p.name, &p.name_en).to_string())
            .unwrap_or_default();
        format!("{parent} / {}", self.c.l.t(&c.name, &c.name_en))
    }
}

async fn report_page(
    s: &AppState,
    ctx: &PageCtx,
    intake: bool,
    channel: &str,
    form: FormState,
    photo_again: bool,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let categories = s.store.categories().await?;
    // Places to pick: the compounds of the viewer's area (the whole
    // district for a resident, who may report anywhere).
    let tree = v.caller.scope.tree_for_lookup();
    let places = s
        .store
        .compounds(&tree, None)
        .await?
        .into_iter()
        .filter_map(|c| Some((c.name, c.lon?, c.lat?)))
        .take(2000)
        .collect();
    let grids = if intake {
        s.store
            .org_units(&v.caller.scope, Some(linli_core::org::OrgKind::Grid))
            .await?
            .into_iter()
            .map(|g| (g.code, g.name))
            .collect()
    } else {
        Vec::new()
    };
    let title = if intake {
        ctx.l.t("登记诉求", "Register a request")
    } else {
        ctx.l.t("我要反映", "Report a problem")
    };
    render(ReportPage {
        c: ctx.chrome(title),
        intake,
        channel: channel.to_string(),
        categories,
        places,
        grids,
        form,
        photo_again,
        max_description: linli_core::intake::MAX_DESCRIPTION_CHARS,
        max_title: linli_core::intake::MAX_TITLE_CHARS,
        max_address: linli_core::intake::MAX_ADDRESS_CHARS,
        max_photo_bytes: linli_store::photos::MAX_PHOTO_BYTES,
    })
}

pub async fn report_form(State(s): State<AppState>, ctx: PageCtx) -> Result<Response, PageError> {
    report_page(&s, &ctx, false, "self_report", FormState::default(), false).await
}

pub async fn intake_form(
    State(s): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    if matches!(ctx.viewer()?.caller.scope, Scope::Reporter(_)) {
        return Ok(Redirect::to("/report").into_response());
    }
    let channel = match q.get("channel").map(String::as_str) {
        Some("grid_patrol") => "grid_patrol",
        _ => "counter",
    };
    report_page(&s, &ctx, true, channel, FormState::default(), false).await
}

/// Registers the request of a report or intake form, then its photo, and
/// goes to the new case (post/redirect/get: reload and Back do not send
/// it again). A refused form comes back with its values and the message
/// beside the field.
pub async fn register(
    State(s): State<AppState>,
    ctx: PageCtx,
    form: Multipart,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let f = match Posted::read(form).await {
        Ok(f) => f,
        Err(PageError(e)) => return report_refused(&s, &ctx, HashMap::new(), e, false).await,
    };
    v.check_csrf(f.get("_csrf"))?;
    match register_posted(&s, v, &f).await {
        // The case page confirms it once: its reference and promised time.
        Ok(id) => Ok(Redirect::to(&format!("/cases/{id}?new=1")).into_response()),
        Err(PageError(e)) => report_refused(&s, &ctx, f.fields.clone(), e, f.photo.is_some()).await,
    }
}

/// The report or intake form again, with what was sent and why it was
/// refused; errors that are not about the form go to the error page.
async fn report_refused(
    s: &AppState,
    ctx: &PageCtx,
    values: HashMap<String, String>,
    e: AppError,
    had_photo: bool,
) -> Result<Response, PageError> {
    let Some(form) = FormState::refused(values, &e, ctx.l) else {
        return Err(e.into());
    };
    let intake = ctx.here == "/intake";
    let channel = match form.val("channel") {
        "" => if intake { "counter" } else { "self_report" }.to_string(),
        c => c.to_string(),
    };
    let mut r = report_page(s, ctx, intake, &channel, form, had_photo).await?;
    *r.status_mut() = e.status();
    Ok(r)
}

async fn register_posted(s: &AppState, v: &Viewer, f: &Posted) -> Result<i64, PageError> {
    let photo = f.checked_photo()?;
    // A place picked from the list carries its point as "lon,lat".
    let (mut lon, mut lat) = (f.number::<f64>("lon")?, f.number::<f64>("lat")?);
    if let (None, None, Some(place)) = (lon, lat, f.get("place"))
        && let Some((a, b)) = place.split_once(',')
    {
        lon = a.trim().parse().ok();
        lat = b.trim().parse().ok();
    }
    let req = NewRequest {
        channel: f.get("channel").unwrap_or("counter").to_string(),
        external_id: None,
        category: f.get("category").map(String::from),
        title: f.get("title").map(String::from),
        description: f.get("description").unwrap_or("").to_string(),
        address: f.get("address").map(String::from),
        lon,
        lat,
        org_code: f.get("org_code").map(String::from),
        reporter_name: f.get("reporter_name").map(String::from),
        reporter_phone: f.get("reporter_phone").map(String::from),
        ..Default::default()
    };
    let case = s
        .store
        .intake(&v.caller.scope, &v.caller.actor, &req)
        .await?;
    if let Some(bytes) = photo {
        s.store
            .add_photo(&v.caller.scope, &v.caller.actor, case.row.id, bytes)
            .await?;
    }
    Ok(case.row.id)
}

#[derive(Template)]
#[template(path = "nearby.html")]
struct NearbyList {
    c: Chrome,
    /// Each case, and whether the viewer may see which case it is (staff,
    /// within their own area).
    cases: Vec<(linli_store::cases::NearbyCase, bool)>,
    categories: Vec<Category>,
    /// A resident may join one (我也遇到).
    resident: bool,
}

impl NearbyList {
    fn category(&self, n: &linli_store::cases::NearbyCase) -> String {
        n.category_code
            .as_ref()
            .and_then(|code| self.categories.iter().find(|c| &c.code == code))
            .map_or_else(
                || self.c.l.t("未分类", "Unclassified").to_string(),
                |c| self.c.l.t(&c.name, &c.name_en).to_string(),
            )
    }
    fn state(&self, code: &str) -> String {
        state_label(self.c.l, code)
    }
    fn metres(&self, d: &f64) -> String {
        format!("{:.0}", (d / 10.0).round() * 10.0)
    }
    fn when(&self, ms: &i64) -> String {
        beijing(*ms)
    }
}

/// How far around a point open reports are offered to join.
const NEARBY_M: f64 = 300.0;

/// The open reports of the same kind near the point being reported
/// (shown before submitting, FixMyStreet-style): a resident joins one
/// instead of reporting it twice. A resident sees the category, state,
/// distance and date, not the text of another resident's report.
pub async fn nearby(
    State(s): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let num = |k: &str| q.get(k).and_then(|x| x.trim().parse::<f64>().ok());
    let (Some(lon), Some(lat)) = (num("lon"), num("lat")) else {
        return Ok(axum::response::Html(String::new()).into_response());
    };
    let category = q
        .get("category")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    let cases = match s.store.nearby_open(lon, lat, category, NEARBY_M, 5).await {
        Ok(c) => c,
        // A point outside every grid or the map: nothing to offer.
        Err(linli_store::StoreError::Invalid { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let resident = matches!(v.caller.scope, Scope::Reporter(_));
    let cases = cases
        .into_iter()
        .map(|n| {
            let named = !resident && v.caller.scope.covers(&n.scope_path);
            (n, named)
        })
        .collect();
    render(NearbyList {
        c: ctx.chrome(""),
        categories: s.store.categories().await?,
        resident,
        cases,
    })
}

/// A resident joins an open case (我也遇到) and goes to it.
pub async fn join(
    State(s): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    if !matches!(v.caller.scope, Scope::Reporter(_)) {
        return Err(AppError::forbidden(
            "only a resident joins a case (me too)",
            "只有居民可以点“我也遇到”",
        )
        .into());
    }
    // Joining lets one read a case (as a follower does): held to the
    // look-up allowance, so cases cannot be walked by id.
    let now = chrono::Utc::now().timestamp_millis();
    crate::throttle::take_lookup(
        &s.lookup_throttle,
        &v.caller.actor,
        now,
        ("too many joins", "“我也遇到”次数过多"),
    )?;
    s.store
        .join_case(AccountId(v.account.id), &v.caller.actor, CaseId(id))
        .await?;
    Ok(Redirect::to(&format!("/cases/{id}")).into_response())
}

/// One to-do as shown: its count and label.
struct TodoShown {
    code: &'static str,
    label: &'static str,
    count: i64,
    alarm: bool,
}

#[derive(Template)]
#[template(path = "todo.html")]
struct TodoPage {
    c: Chrome,
    todos: Vec<TodoShown>,
}

#[derive(Template)]
#[template(path = "todo_count.html")]
struct TodoCount {
    label: &'static str,
    total: i64,
    alarm: bool,
}

async fn todos_of(s: &AppState, v: &Viewer, l: Lang) -> Result<Vec<TodoShown>, PageError> {
    let counts = s
        .store
        .todo_counts(&v.caller.scope, &Todo::for_role(v.role()))
        .await?;
    Ok(counts
        .into_iter()
        .map(|(t, count)| TodoShown {
            code: t.code(),
            label: l.t(t.label_zh(), t.label_en()),
            count,
            alarm: t.is_alarm(),
        })
        .collect())
}

/// What waits for the viewer (待办): each to-do with its count, a link to
/// its cases. The first page of those who work on cases.
pub async fn todo(State(s): State<AppState>, ctx: PageCtx) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let todos = todos_of(&s, v, ctx.l).await?;
    render(TodoPage {
        c: ctx.chrome(ctx.l.t("待办", "To do")),
        todos,
    })
}

/// The header's count of what waits (loaded after the page, refreshed
/// every minute): the cases of the to-dos that ask for a step, and red
/// when any is overdue or unsatisfied. "Due soon" and "overdue" overlap
/// the others and are not added in.
pub async fn todo_count(State(s): State<AppState>, ctx: PageCtx) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let todos = todos_of(&s, v, ctx.l).await?;
    let total = todos
        .iter()
        .filter(|t| !matches!(t.code, "due_soon" | "overdue"))
        .map(|t| t.count)
        .sum();
    render(TodoCount {
        label: ctx.l.t("待办", "To do"),
        total,
        alarm: todos.iter().any(|t| t.alarm && t.count > 0),
    })
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CaseList {
    c: Chrome,
    cases: Vec<CaseView>,
    filters: bool,
    q: HashMap<String, String>,
    states: Vec<(String, String)>,
    categories: Vec<(String, String)>,
    grids: Vec<(i64, String)>,
    pager: Pager,
    /// The queue's Excel export with the same filters, for those who may.
    export: Option<String>,
    /// The to-do the list shows, named, with the link that drops it.
    todo: Option<(String, String)>,
    /// What the search box did, said above the list.
    searched: Option<String>,
    now: i64,
    /// Numbered pages with the total (the queue); keyset paging otherwise.
    pages: Option<PageNumbers>,
}

/// Whether a search is a phone number (digits, with + - space).
fn looks_like_phone(t: &str) -> bool {
    let digits = t.chars().filter(char::is_ascii_digit).count();
    digits >= 7
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '))
}

/// The Excel export of a filtered queue (all its pages).
fn export_href(q: &HashMap<String, String>) -> String {
    let mut rest = q.clone();
    for paging in ["offset", "page", "before", "row"] {
        rest.remove(paging);
    }
    super::query_href("/api/v1/export/cases.xlsx", &rest)
}

impl CaseList {
    /// The list in another order, from its first page.
    fn sort_href(&self, order: &str) -> String {
        let mut q = self.q.clone();
        q.remove("page");
        q.remove("before");
        q.remove("row");
        q.insert("sort".into(), order.into());
        super::query_href("/cases", &q)
    }
    fn state(&self, code: &str) -> String {
        state_label(self.c.l, code)
    }
    /// Time left of an open case's deadline (empty when closed or none).
    fn left(&self, k: &CaseView) -> Option<(String, bool)> {
        let open = CaseState::parse(&k.row.state).is_some_and(|s| s.is_open());
        let due = k.row.due_at.filter(|_| open)?;
        let (zh, en, overdue) = linli_core::deadline::time_left(due, self.now);
        Some((if self.c.l.en { en } else { zh }, overdue))
    }
    fn when(&self, ms: &i64) -> String {
        beijing(*ms)
    }
    fn picked(&self, name: &str, value: &str) -> bool {
        self.q.get(name).map(String::as_str) == Some(value)
    }
}

pub async fn my_requests(
    State(s): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let before = crate::api::param(&q, "before")?;
    let mut cases = s
        .store
        .cases(
            &v.caller.scope,
            &CaseFilter {
                limit: super::PAGE_ROWS,
                before_id: before,
                ..Default::default()
            },
        )
        .await?;
    // The cases they joined (我也遇到), with their own, on the first page.
    if before.is_none() {
        for j in s.store.joined_cases(v.account.id).await? {
            if !cases.iter().any(|c| c.row.id == j.row.id) {
                cases.push(j);
            }
        }
        cases.sort_by_key(|c| std::cmp::Reverse(c.row.id));
    }
    render(CaseList {
        now: chrono::Utc::now().timestamp_millis(),
        searched: None,
        todo: None,
        export: None,
        pages: None,
        pager: Pager::new(
            "/my",
            &q,
            "before",
            cases.last().map(|c| c.row.id),
            cases.len(),
        ),
        c: ctx.chrome(ctx.l.t("我的诉求", "My requests")),
        cases,
        filters: false,
        q: HashMap::new(),
        states: Vec::new(),
        categories: Vec::new(),
        grids: Vec::new(),
    })
}

/// The queue: filters by state, category, grid and overdue (htmx swaps
/// the table in place; the same URL works without script).
pub async fn queue(
    State(s): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    queue_page(&s, &ctx, q, None).await
}

/// The caller's cases by their phone, sent by POST so that the number
/// stays out of addresses, browser history and access logs.
pub async fn queue_by_phone(
    State(s): State<AppState>,
    ctx: PageCtx,
    axum::extract::Form(f): axum::extract::Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    let phone = f
        .get("phone")
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    queue_page(&s, &ctx, HashMap::new(), phone).await
}

async fn queue_page(
    s: &AppState,
    ctx: &PageCtx,
    q: HashMap<String, String>,
    phone: Option<String>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let mut f = crate::cases_api::case_filter(&q)?;
    f.limit = super::PAGE_ROWS;
    // Numbered pages (the deepest a list pages to by offset).
    let max_rows = linli_store::cases::MAX_OFFSET;
    if !q.contains_key("before") {
        f.offset = (PageNumbers::asked(&q, max_rows) - 1) * super::PAGE_ROWS;
    }
    // Whether the list is what was found (a phone's cases, or nothing),
    // not a filtered queue to count.
    let mut found_only = false;
    let l = ctx.l;
    // One search box: a case code opens the case, a phone finds the
    // caller's cases (audited, held to the look-up allowance), anything
    // else is words in titles and addresses of the last 90 days.
    let mut searched = None;
    let asked = phone
        .as_deref()
        .or_else(|| q.get("q").map(|t| t.trim()))
        .filter(|t| !t.is_empty());
    let cases = match asked {
        Some(t) if linli_store::cases::id_from_code(t).is_some() => {
            let id = linli_store::cases::id_from_code(t).unwrap_or_default();
            match s.store.case(&v.caller.scope, id).await {
                Ok(c) if c.row.code == t => {
                    return Ok(Redirect::to(&format!("/cases/{id}")).into_response());
                }
                Ok(_)
                | Err(
                    linli_store::StoreError::NotFound(_) | linli_store::StoreError::OutOfScope(_),
                ) => {
                    searched = Some(format!(
                        "{}{t}{}",
                        l.t("没有编号为 ", "No case "),
                        l.t(" 的工单（或不在您的范围内）", " (or not in your area)")
                    ));
                    found_only = true;
                    Vec::new()
                }
                Err(e) => return Err(e.into()),
            }
        }
        Some(_) if phone.is_none() && asked.is_some_and(looks_like_phone) => {
            // A number in the address is not looked up (it would stay in
            // histories and logs).
            searched = Some(
                l.t(
                    "为保护个人信息，电话号码不放在网址中：请在“来电号码”栏查找",
                    "Phone numbers are not taken from the address: use the caller's phone box",
                )
                .to_string(),
            );
            found_only = true;
            Vec::new()
        }
        Some(t) if phone.is_some() => {
            let now = chrono::Utc::now().timestamp_millis();
            crate::throttle::take_lookup(
                &s.lookup_throttle,
                &v.caller.actor,
                now,
                ("too many look-ups by phone", "按电话查询次数过多"),
            )?;
            searched = Some(
                l.t(
                    "按来电号码查找（已记入审计日志）",
                    "Found by the caller's phone (written to the audit log)",
                )
                .to_string(),
            );
            found_only = true;
            s.store
                .cases_by_phone(&v.caller.scope, &f, t, &v.caller.actor)
                .await?
        }
        Some(t) => {
            f.keyword = Some(t.to_string());
            if f.created_from.is_none() && f.created_to.is_none() {
                f = crate::cases_api::keyword_window(f);
                searched = Some(
                    l.t(
                        "在近90天登记的工单标题和地址中查找",
                        "Searched the titles and addresses of the last 90 days",
                    )
                    .to_string(),
                );
            }
            s.store.cases(&v.caller.scope, &f).await?
        }
        None => s.store.cases(&v.caller.scope, &f).await?,
    };
    let states = CaseState::ALL
        .into_iter()
        .map(|st| {
            (
                st.code().to_string(),
                l.t(st.label_zh(), st.label_en()).to_string(),
            )
        })
        .collect();
    let categories = s
        .store
        .categories()
        .await?
        .into_iter()
        .filter(|c| c.parent.is_none())
        .map(|c| (c.code.clone(), l.t(&c.name, &c.name_en).to_string()))
        .collect();
    let grids = s
        .store
        .org_units(&v.caller.scope, Some(linli_core::org::OrgKind::Grid))
        .await?
        .into_iter()
        .take(500)
        .map(|g| (g.id, g.name))
        .collect();
    // The export follows the filters; a search is not one (it would
    // export the whole queue), so a search offers none.
    let searching = q.get("q").is_some_and(|x| !x.trim().is_empty());
    let export =
        (v.may(linli_core::access::Permission::Export) && !searching).then(|| export_href(&q));
    let now = chrono::Utc::now().timestamp_millis();
    // The total, up to what the pages reach (what a look-up found is one
    // page).
    let (total, capped) = if found_only {
        (cases.len() as i64, false)
    } else {
        // Words are matched row by row: their total is counted to 200
        // (four pages), which costs about four times the page itself.
        let cap = if f.keyword.is_some() { 200 } else { max_rows };
        s.store.count_cases(&v.caller.scope, &f, cap).await?
    };
    let pages = Some(PageNumbers::new("/cases", &q, total, capped));
    let todo = f.todo.map(|t| {
        let mut rest = q.clone();
        rest.remove("todo");
        (
            l.t(t.label_zh(), t.label_en()).to_string(),
            super::query_href("/cases", &rest),
        )
    });
    render(CaseList {
        now,
        searched,
        todo,
        export,
        pages,
        pager: Pager::new(
            "/cases",
            &q,
            "before",
            cases.last().map(|c| c.row.id),
            cases.len(),
        ),
        c: ctx.chrome(l.t("工单", "Cases")),
        cases,
        filters: true,
        q,
        states,
        categories,
        grids,
    })
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    c: Chrome,
    case: CaseView,
    timeline: Vec<CaseEvent>,
    photos: Vec<PhotoRef>,
    steps: Vec<&'static str>,
    units: Vec<HandlingUnit>,
    /// The units the timeline dispatched to, by id.
    unit_names: HashMap<i64, String>,
    categories: Vec<Category>,
    /// Whether the viewer may see the masked text as written.
    may_unmask: bool,
    /// The reporter's phone and masked text as written, after an audited view.
    originals: Option<CaseOriginals>,
    /// The step whose form came back refused, and its values and message.
    refused: Option<(&'static str, FormState)>,
    /// The timeline's actors by name and role.
    actors: HashMap<String, String>,
    /// Cases this one may be merged into: (id, code and title).
    merge_into: Vec<(i64, String)>,
    /// Just registered: the page confirms it with its reference.
    fresh: bool,
    /// Residents who joined it (我也遇到).
    followers: i64,
}

impl CasePage {
    /// What the refused form of step `k` held in `name`; empty otherwise.
    fn sent(&self, k: &str, name: &str) -> &str {
        match &self.refused {
            Some((step, f)) if *step == k => f.val(name),
            _ => "",
        }
    }
    /// The message beside field `slot` of step `k`'s form.
    fn err(&self, k: &str, slot: &str) -> Option<&str> {
        match &self.refused {
            Some((step, f)) if *step == k => f.err(slot),
            _ => None,
        }
    }
    /// Whether the refused form of step `k` chose `value` for `name`, or
    /// (no refused form) whether `value` is the default.
    fn chose(&self, k: &str, name: &str, value: &str, default: bool) -> bool {
        match &self.refused {
            Some((step, f)) if *step == k => f.is(name, value, default),
            _ => default,
        }
    }
    /// A photo as the resident's (before) or the handler's (after): a
    /// report back's photo is stored just before its step, so those added
    /// after the step that preceded the first report back show the work.
    fn photo_label(&self, p: &PhotoRef) -> &'static str {
        let first = self.timeline.iter().position(|e| e.action == "report_back");
        let since = first
            .and_then(|i| i.checked_sub(1))
            .map(|i| self.timeline[i].at);
        if since.is_some_and(|at| p.created_at > at) {
            self.c.l.t("处置后", "After")
        } else {
            self.c.l.t("反映时", "Before")
        }
    }
    fn tiles(&self) -> String {
        super::tile_url()
    }
    fn actor<'a>(&'a self, actor: &'a str) -> &'a str {
        self.actors.get(actor).map_or(actor, String::as_str)
    }
    /// The case's channel by its label.
    fn channel(&self) -> String {
        match linli_store::cases::Channel::parse(&self.case.row.channel) {
            Ok(ch) => self.c.l.t(ch.label_zh(), ch.label_en()).to_string(),
            Err(_) => self.case.row.channel.clone(),
        }
    }
    fn rating(&self, code: &str) -> String {
        match linli_core::case::Rating::parse(code) {
            Some(r) => self.c.l.t(r.label_zh(), r.label_en()).to_string(),
            None => code.to_string(),
        }
    }
    /// The refusal, said above the steps.
    fn problem(&self) -> Option<&str> {
        self.refused.as_ref().and_then(|(_, f)| f.problem())
    }
    /// The label of a free-text field shown as written.
    fn field(&self, field: &str) -> &'static str {
        let (zh, en) = match field {
            "title" => ("标题", "Title"),
            "description" => ("描述", "Description"),
            "address" => ("地址", "Address"),
            "reporter_contact" => ("其他联系方式", "Other contact"),
            _ => ("处理意见", "Note"),
        };
        if self.c.l.en { en } else { zh }
    }
    /// What the channel sent beyond linli's own fields (Open311
    /// attributes, a photo link), from the register event, labelled.
    fn channel_details(&self) -> Vec<(String, String)> {
        let Some(e) = self.timeline.iter().find(|e| e.action == "register") else {
            return Vec::new();
        };
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
        let Some(map) = data.get("details").and_then(|d| d.as_object()) else {
            return Vec::new();
        };
        let en = self.c.l.en;
        map.iter()
            .map(|(k, v)| {
                let v = v.as_str().unwrap_or_default();
                let label = match k.as_str() {
                    "attribute.urgency" if !en => "紧急程度".to_string(),
                    "media_url" if !en => "图片链接".to_string(),
                    "attribute.urgency" => "Urgency".to_string(),
                    "media_url" => "Photo link".to_string(),
                    "hotline.unit" if !en => "12345 承办单位".to_string(),
                    "hotline.unit" => "12345 handling unit".to_string(),
                    "hotline.time_limit" if !en => "12345 办理时限".to_string(),
                    "hotline.time_limit" => "12345 time limit".to_string(),
                    other => other.to_string(),
                };
                let value = match (v, en) {
                    ("urgent", false) => "紧急".to_string(),
                    ("normal", false) => "一般".to_string(),
                    _ => v.to_string(),
                };
                (label, value)
            })
            .collect()
    }
    fn state(&self, code: &str) -> String {
        state_label(self.c.l, code)
    }
    /// What a step says in the timeline: its note, with the codes it
    /// carries named (the category chosen, the unit dispatched to, the
    /// days asked for).
    fn note_of(&self, e: &CaseEvent) -> String {
        let l = self.c.l;
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
        match e.action.as_str() {
            "classify" => linli_core::category::path_label(&self.categories, &e.note, l.en)
                .unwrap_or_else(|| e.note.clone()),
            "dispatch" => data
                .get("unit")
                .and_then(serde_json::Value::as_i64)
                .and_then(|u| self.unit_names.get(&u))
                .map(|u| format!("{}{u}", l.t("派往：", "To: ")))
                .unwrap_or_default(),
            "request_extension" => {
                match data.get("working_days").and_then(serde_json::Value::as_u64) {
                    Some(d) => format!(
                        "{}{d}{}{}",
                        l.t("申请延期 ", "Asks for "),
                        l.t(" 个工作日：", " working days: "),
                        e.note
                    ),
                    None => e.note.clone(),
                }
            }
            _ => e.note.clone(),
        }
    }
    fn step(&self, kind: &str) -> &'static str {
        let (zh, en) = action_label(kind);
        if self.c.l.en { en } else { zh }
    }
    fn when(&self, ms: &i64) -> String {
        beijing(*ms)
    }
    fn when_opt(&self, ms: &Option<i64>) -> String {
        ms.map(beijing).unwrap_or_default()
    }
    fn leaf_categories(&self) -> Vec<&Category> {
        self.categories
            .iter()
            .filter(|c| c.parent.is_some())
            .collect()
    }
}

pub async fn case_page(
    State(s): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let fresh = q.get("new").is_some_and(|x| x == "1");
    case_view(&s, &ctx, id, None, None, fresh).await
}

/// The case page with its personal data as written, once a reason is
/// given; the view is an audit entry before anything is shown.
pub async fn unmask(
    State(s): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    let reason = f.get("reason").map(String::as_str).unwrap_or("");
    let originals = s
        .store
        .case_originals(&v.caller.scope, id, &v.caller.actor, reason)
        .await?;
    case_view(&s, &ctx, id, Some(originals), None, false).await
}

async fn case_view(
    s: &AppState,
    ctx: &PageCtx,
    id: i64,
    originals: Option<CaseOriginals>,
    refused: Option<(&'static str, FormState)>,
    fresh: bool,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let case = s.store.case(&v.caller.scope, id).await?;
    let timeline = s.store.timeline(&v.caller.scope, id).await?;
    let actors: Vec<&str> = timeline.iter().map(|e| e.actor.as_str()).collect();
    let actors = super::actor_labels(s, ctx.l, &actors).await?;
    let photos = s.store.photos(&v.caller.scope, id).await?;
    let steps = steps_for(v, &case);
    let units = if steps.contains(&"dispatch") {
        s.store.units(&v.caller.scope).await?
    } else {
        Vec::new()
    };
    // Categories name the classify steps (and are cached); the units the
    // timeline dispatched to are named too.
    let categories = s.store.categories().await?;
    let dispatched: Vec<i64> = timeline
        .iter()
        .filter(|e| e.action == "dispatch")
        .filter_map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.data)
                .ok()?
                .get("unit")?
                .as_i64()
        })
        .collect();
    let unit_names = s
        .store
        .units_by_id(&dispatched)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    // Merging picks the other case: the open cases of the same grid, newest
    // first (a duplicate is reported where the first was).
    let merge_into = if steps.contains(&"merge") {
        s.store
            .cases(
                &v.caller.scope,
                &CaseFilter {
                    grid_id: case.row.grid_id,
                    open: Some(true),
                    limit: 30,
                    ..Default::default()
                },
            )
            .await?
            .into_iter()
            .filter(|c| c.row.id != id)
            .map(|c| (c.row.id, format!("{} {}", c.row.code, c.row.title)))
            .collect()
    } else {
        Vec::new()
    };
    render(CasePage {
        c: ctx.chrome(&format!("{} {}", case.row.code, case.row.title)),
        case,
        timeline,
        photos,
        steps,
        units,
        unit_names,
        categories,
        may_unmask: v.may(linli_core::access::Permission::Unmask),
        originals,
        refused,
        actors,
        merge_into,
        fresh,
        followers: s
            .store
            .follower_counts(&[id])
            .await?
            .first()
            .map_or(0, |(_, n)| *n),
    })
}

/// The steps the state machine allows now that the viewer's role may take.
fn steps_for(v: &Viewer, case: &CaseView) -> Vec<&'static str> {
    if !v.may(linli_core::access::Permission::ActOnCase) {
        return Vec::new();
    }
    case.allowed
        .iter()
        .copied()
        .filter(|k| may_take(v.role(), *k))
        .map(|k| k.code())
        .collect()
}

/// Takes one step from a case page's form; the form's fields become the
/// step as the API takes it, so both are checked by the same rules. Done,
/// it goes back to the case (post/redirect/get); refused, the case page
/// comes back with the form's values and the message beside the field.
pub async fn act(
    State(s): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    form: Multipart,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let f = match Posted::read(form).await {
        Ok(f) => f,
        Err(PageError(e)) => return case_refused(&s, &ctx, id, "", HashMap::new(), e).await,
    };
    v.check_csrf(f.get("_csrf"))?;
    let kind = ActionKind::parse(f.get("action").unwrap_or(""))
        .ok_or_else(|| AppError::invalid("action", "unknown step", "没有这个办理步骤"))?;
    crate::cases_api::require_step(v.role(), kind)?;
    match act_posted(&s, v, id, kind, &f).await {
        Ok(()) => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
        Err(PageError(e)) => case_refused(&s, &ctx, id, kind.code(), f.fields.clone(), e).await,
    }
}

async fn case_refused(
    s: &AppState,
    ctx: &PageCtx,
    id: i64,
    step: &'static str,
    values: HashMap<String, String>,
    e: AppError,
) -> Result<Response, PageError> {
    let Some(form) = FormState::refused(values, &e, ctx.l) else {
        return Err(e.into());
    };
    let mut r = case_view(s, ctx, id, None, Some((step, form)), false).await?;
    *r.status_mut() = e.status();
    Ok(r)
}

async fn act_posted(
    s: &AppState,
    v: &Viewer,
    id: i64,
    kind: ActionKind,
    f: &Posted,
) -> Result<(), PageError> {
    let version: i64 = f
        .number("version")?
        .ok_or_else(|| AppError::invalid_msg("version", linli_store::Msg::required()))?;
    let photo = f.checked_photo()?;
    let mut step = serde_json::Map::new();
    step.insert("action".into(), Value::from(kind.code()));
    for (name, value) in &f.fields {
        let value = value.trim();
        let typed = match name.as_str() {
            "_csrf" | "action" | "version" => continue,
            // A parent case named by its code (as people know it).
            "parent_code" if !value.is_empty() => {
                let id = linli_store::cases::id_from_code(value).ok_or_else(|| {
                    AppError::invalid(
                        "parent",
                        format!("'{value}' is not a case code (GD…)"),
                        format!("“{value}”不是工单编号（GD开头）"),
                    )
                })?;
                step.insert("parent".into(), json!(id));
                continue;
            }
            "parent_code" => continue,
            "unit" | "parent" | "working_days" => match value.parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) if value.is_empty() => continue,
                Err(_) => return Err(not_a_number(name, value).into()),
            },
            "passed" | "approve" | "rework" => json!(matches!(value, "true" | "1" | "yes")),
            _ => json!(value),
        };
        step.insert(name.clone(), typed);
    }
    // A report back's or a supplement's photo is stored first; a bad file
    // was refused above.
    if matches!(kind, ActionKind::ReportBack | ActionKind::Supplement)
        && let Some(bytes) = photo
    {
        let p = s
            .store
            .add_photo(&v.caller.scope, &v.caller.actor, id, bytes)
            .await?;
        step.insert("photos".into(), json!([p.url()]));
    }
    let action: Action = serde_json::from_value(Value::Object(step)).map_err(|e| {
        // A field the step needs is missing: serde names it.
        let field = e
            .to_string()
            .split('`')
            .nth(1)
            .unwrap_or(kind.code())
            .to_string();
        AppError::invalid_msg(&field, linli_store::Msg::required())
    })?;
    s.store
        .act(
            &v.caller.scope,
            &v.caller.actor,
            CaseId(id),
            version,
            &action,
        )
        .await?;
    Ok(())
}
