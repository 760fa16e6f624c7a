//! The web interface: server-rendered pages (askama, escaped by default)
//! with htmx, Chinese first with an English switch, usable on a phone.
//!
//! One gate in front of every page signs the viewer in from the session
//! cookie and checks the page's permission (declared with the route in
//! [`pages`]), as the API's
//! layer does; forms carry the session's CSRF token in `_csrf`.

mod admin;
mod audit;
mod cases;
mod dashboard;
mod form;
mod notices;
mod registry;
mod settings;

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Form, FromRequestParts, MatchedPath, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use linli_core::access::{Permission, Role, allows};
use linli_store::Scope;
use linli_store::accounts::Account;

use crate::authz::{Pages, Rule, Rules};
use crate::{AppError, AppState, Caller, session_token};

/// The cookie that keeps the chosen language.
const LANG_COOKIE: &str = "linli_lang";

/// The interface language: Chinese unless English was chosen.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lang {
    pub en: bool,
}

impl Lang {
    /// The text in the viewer's language.
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.en { en } else { zh }
    }

    pub fn code(&self) -> &'static str {
        if self.en { "en" } else { "zh-CN" }
    }

    fn of(headers: &HeaderMap, query: Option<&str>) -> Lang {
        if let Some(q) = query {
            for kv in q.split('&') {
                match kv {
                    "lang=en" => return Lang { en: true },
                    "lang=zh" => return Lang { en: false },
                    _ => {}
                }
            }
        }
        let en = crate::cookie_value(headers, LANG_COOKIE).as_deref() == Some("en");
        Lang { en }
    }
}

/// A signed-in person looking at pages.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub caller: Caller,
    pub account: Account,
    pub csrf: String,
}

impl Viewer {
    pub fn role(&self) -> Role {
        self.caller.role
    }

    pub fn may(&self, p: Permission) -> bool {
        allows(self.caller.role, p)
    }

    /// A form write must carry the session's CSRF token.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), PageError> {
        if crate::token_matches(sent.unwrap_or(""), &self.csrf) {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "the form's security token is missing or stale; reload the page and try again",
                "页面已过期（安全令牌失效），请刷新页面后重试",
            )
            .into())
        }
    }
}

/// What every page shows around its content: language, who is signed
/// in, the menu of what they may use.
pub struct Chrome {
    pub l: Lang,
    pub title: String,
    pub user: Option<String>,
    pub csrf: String,
    pub nav: Vec<(&'static str, &'static str)>,
    /// The current path, for the language switch.
    pub here: String,
    /// Whether the viewer has a to-do list (its count is in the header).
    pub todo: bool,
}

impl Chrome {
    pub fn new(l: Lang, viewer: Option<&Viewer>, title: &str, here: &str) -> Chrome {
        let mut nav = Vec::new();
        if let Some(v) = viewer {
            let item = |zh: &'static str, en: &'static str| l.t(zh, en);
            let r = v.role();
            if r == Role::Resident {
                nav.push(("/report", item("我要反映", "Report a problem")));
                nav.push(("/my", item("我的诉求", "My requests")));
            } else {
                if v.may(Permission::ReadRegistry) && r == Role::GridMember {
                    nav.push(("/grid", item("我的网格", "My grid")));
                }
                if v.may(Permission::RegisterCase) {
                    nav.push(("/intake", item("登记诉求", "Register a request")));
                }
                if v.may(Permission::ReadCases) {
                    nav.push(("/cases", item("工单", "Cases")));
                }
                if v.may(Permission::ReadRegistry) {
                    nav.push(("/registry", item("人口台账", "Registry")));
                }
                if v.may(Permission::ReadRates) {
                    nav.push(("/dashboard", item("统计地图", "Dashboard")));
                }
                if v.may(Permission::ReadAudit) {
                    nav.push(("/audit", item("审计日志", "Audit log")));
                }
                if v.may(Permission::ManageSettings) {
                    nav.push(("/admin", item("管理", "Administration")));
                }
            }
        }
        Chrome {
            l,
            title: title.to_string(),
            user: viewer.map(|v| {
                format!(
                    "{} · {}",
                    v.account.display_name,
                    l.t(v.role().label_zh(), v.role().label_en())
                )
            }),
            csrf: viewer
                .map(|v| crate::mask_token(&v.csrf))
                .unwrap_or_default(),
            nav,
            here: here.to_string(),
            todo: viewer.is_some_and(|v| !linli_core::todo::Todo::for_role(v.role()).is_empty()),
        }
    }

    /// The link that switches language and comes back here.
    pub fn switch_href(&self) -> String {
        format!(
            "/lang?to={}&back={}",
            if self.l.en { "zh" } else { "en" },
            urlencode(&self.here)
        )
    }
}

/// Map tiles, when an operator configured a tile server
/// (`LINLI_TILE_URL`, e.g. `https://tiles.example/{z}/{x}/{y}.png`); by
/// default maps show the GeoJSON layers alone, with nothing fetched.
pub fn tile_url() -> String {
    std::env::var("LINLI_TILE_URL").unwrap_or_default()
}

/// Rows per page of a list: short enough for a phone.
pub const PAGE_ROWS: i64 = 50;

/// Links to the first and the next page of a list, keeping its filters.
/// Lists page by key (the last id shown), so the hundredth page costs what
/// the first does; the row number is carried along only for display.
#[derive(Debug, Clone, Default)]
pub struct Pager {
    pub first: Option<String>,
    pub next: Option<String>,
    pub from: i64,
}

impl Pager {
    /// `key` names the cursor parameter ("before" for cases, newest first;
    /// "after" for people); `last` is the id of the last row shown; a full
    /// page (`shown` rows) means there may be more.
    pub fn new(
        path: &str,
        q: &HashMap<String, String>,
        key: &str,
        last: Option<i64>,
        shown: usize,
    ) -> Pager {
        let from = q
            .get("row")
            .and_then(|o| o.parse::<i64>().ok())
            .unwrap_or(1)
            .max(1);
        let href = |extra: &[(&str, i64)]| {
            let mut pairs: Vec<String> = q
                .iter()
                .filter(|(k, v)| {
                    !matches!(k.as_str(), "offset" | "row") && k.as_str() != key && !v.is_empty()
                })
                .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
                .collect();
            pairs.sort();
            pairs.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
            format!("{path}?{}", pairs.join("&"))
        };
        let paged = q.contains_key(key) || q.contains_key("offset");
        Pager {
            first: paged.then(|| href(&[])),
            next: last
                .filter(|_| shown as i64 >= PAGE_ROWS)
                .map(|id| href(&[(key, id), ("row", from + shown as i64)])),
            from,
        }
    }
}

/// Numbered pages of a list whose total is known (up to a cap): 共 N 条,
/// page links around the current one, previous and next.
pub struct PageNumbers {
    pub total: i64,
    /// The total reached the cap: there are more than `total`.
    pub capped: bool,
    pub page: i64,
    /// (page number, link), with `None` for a gap (…).
    pub links: Vec<(i64, Option<String>)>,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl PageNumbers {
    /// How many pages `rows` rows fill (at least one, empty).
    fn pages_of(rows: i64) -> i64 {
        ((rows + PAGE_ROWS - 1) / PAGE_ROWS).max(1)
    }

    /// The page asked for in `q` ("page", from 1), within the pages a list
    /// of `max_rows` rows has.
    pub fn asked(q: &HashMap<String, String>, max_rows: i64) -> i64 {
        q.get("page")
            .and_then(|p| p.trim().parse::<i64>().ok())
            .unwrap_or(1)
            .clamp(1, PageNumbers::pages_of(max_rows))
    }

    pub fn new(path: &str, q: &HashMap<String, String>, total: i64, capped: bool) -> PageNumbers {
        let pages = PageNumbers::pages_of(total);
        let page = PageNumbers::asked(q, total);
        let href = |n: i64| {
            let mut rest = q.clone();
            rest.remove("before");
            rest.remove("row");
            rest.remove("offset");
            if n > 1 {
                rest.insert("page".into(), n.to_string());
            } else {
                rest.remove("page");
            }
            query_href(path, &rest)
        };
        // The first, the last and two either side of the current one.
        let mut links: Vec<(i64, Option<String>)> = Vec::new();
        for n in 1..=pages {
            if n == 1 || n == pages || (n - page).abs() <= 2 {
                if links.last().is_some_and(|(m, _)| *m > 0 && n - *m > 1) {
                    links.push((0, None));
                }
                links.push((n, (n != page).then(|| href(n))));
            }
        }
        PageNumbers {
            total,
            capped,
            page,
            links: if pages > 1 { links } else { Vec::new() },
            prev: (page > 1).then(|| href(page - 1)),
            next: (page < pages).then(|| href(page + 1)),
        }
    }
}

/// Actor strings of a timeline or the audit log → how a person reads
/// them: an account by its name and role (王芳（社区工作者）), a program
/// or linli itself by what it is.
pub(crate) async fn actor_labels(
    s: &AppState,
    l: Lang,
    actors: &[&str],
) -> Result<HashMap<String, String>, PageError> {
    let names = s.store.actor_names(actors).await?;
    Ok(actors
        .iter()
        .map(|a| {
            let shown = match names.get(*a) {
                Some(n) => format!(
                    "{}{}{}{}",
                    n.display_name,
                    l.t("（", " ("),
                    l.t(n.role.label_zh(), n.role.label_en()),
                    l.t("）", ")")
                ),
                None => {
                    let (zh, en) = linli_core::actor::Actor::parse(a).label();
                    if l.en { en } else { zh }
                }
            };
            (a.to_string(), shown)
        })
        .collect())
}

/// `path?k=v&…` with the non-empty parameters of `q`, sorted (a stable
/// address for the same filters).
pub(crate) fn query_href(path: &str, q: &HashMap<String, String>) -> String {
    let mut pairs: Vec<String> = q
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The page's language and viewer, put in by the gate.
pub struct PageCtx {
    pub l: Lang,
    pub viewer: Option<Viewer>,
    pub here: String,
}

impl PageCtx {
    pub fn viewer(&self) -> Result<&Viewer, PageError> {
        self.viewer
            .as_ref()
            .ok_or_else(|| AppError::unauthorized("sign in", "请先登录").into())
    }

    pub fn chrome(&self, title: &str) -> Chrome {
        Chrome::new(self.l, self.viewer.as_ref(), title, &self.here)
    }
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, PageError> {
        let l = Lang::of(&parts.headers, parts.uri.query());
        let here = if parts.method == Method::GET {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into())
        } else {
            // A form's answer: the page the form belongs to
            // (/registry/import → /registry, /cases/7/act → /cases/7).
            let path = parts.uri.path();
            match path.rsplit_once('/') {
                Some((parent, _)) if !parent.is_empty() => parent.to_string(),
                _ => path.to_string(),
            }
        };
        Ok(PageCtx {
            l,
            viewer: parts.extensions.get::<Viewer>().cloned(),
            here,
        })
    }
}

/// An error shown as a page (status, message, a way back).
#[derive(Debug)]
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError(e)
    }
}

impl From<linli_store::StoreError> for PageError {
    fn from(e: linli_store::StoreError) -> Self {
        PageError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    status: u16,
    message: Option<String>,
    rows: Vec<String>,
    back: String,
}

/// An error on its way to the gate, which shows it in the viewer's
/// language with their menu and a link back to the page they came from.
#[derive(Debug, Clone)]
struct Shown {
    status: StatusCode,
    field: Option<String>,
    message: Option<linli_store::Msg>,
    rows: Vec<linli_store::import::RowError>,
}

impl Shown {
    fn of(e: AppError) -> Shown {
        if let AppError::Internal(detail) = &e {
            tracing::error!("internal error: {detail}");
        }
        Shown {
            status: e.status(),
            field: match &e {
                AppError::Invalid { field, .. } => Some(field.clone()),
                _ => None,
            },
            message: e.message(),
            rows: match e {
                AppError::Rows(rows) => rows,
                _ => Vec::new(),
            },
        }
    }

    /// The page, for `viewer` in `l`; `back` is where its back link goes.
    fn page(&self, l: Lang, viewer: Option<&Viewer>, back: &str) -> Response {
        let message = self.message.as_ref().map(|m| {
            let text = m.text(!l.en);
            match self.field.as_deref() {
                Some(f) => linli_core::msg::with_label(f, text, l.en),
                None => text.to_string(),
            }
        });
        let rows = self
            .rows
            .iter()
            .take(20)
            .map(|r| {
                if l.en {
                    format!("row {}: {}", r.row, r.text(false))
                } else {
                    format!("第{}行：{}", r.row, r.text(true))
                }
            })
            .collect();
        let page = ErrorPage {
            c: Chrome::new(l, viewer, l.t("出错了", "Something went wrong"), back),
            status: self.status.as_u16(),
            message,
            rows,
            back: back.to_string(),
        };
        let mut r = match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        };
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            // The wait is in the message; the header is for programs.
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        r
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let shown = Shown::of(self.0);
        // Shown as it is when no gate is in front; the gate shows it again
        // with the viewer's language and menu.
        let mut r = shown.page(Lang::default(), None, "/");
        r.extensions_mut().insert(shown);
        r
    }
}

/// The page a person came from, for an error page's back link: the
/// Referer's path when it is this site's, else the front page. (A
/// `javascript:history.back()` link would be blocked by the CSP.)
fn back_link(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let referer = headers.get(header::REFERER).and_then(|h| h.to_str().ok());
    match (host, referer) {
        (Some(host), Some(r)) => {
            let rest = r
                .strip_prefix("http://")
                .or_else(|| r.strip_prefix("https://"))
                .and_then(|x| x.strip_prefix(host));
            match rest {
                Some(path) if path.starts_with('/') => safe_next(Some(&path.to_string())),
                _ => "/".into(),
            }
        }
        _ => "/".into(),
    }
}

/// Renders a template as a page.
pub fn render(t: impl Template) -> Result<Response, PageError> {
    let html = t
        .render()
        .map_err(|e| AppError::Internal(format!("template: {e}")))?;
    Ok(Html(html).into_response())
}

/// The gate in front of every page: the viewer from the session cookie;
/// no session → the sign-in page; a role without the permission → 403.
async fn gate(State(rules): State<Rules>, mut req: Request, next: Next) -> Response {
    let state = &rules.state;
    let Some(matched) = req.extensions().get::<MatchedPath>().cloned() else {
        return next.run(req).await;
    };
    let l = Lang::of(req.headers(), req.uri().query());
    let back = back_link(req.headers());
    let Some(rule) = rules.rule(req.method(), matched.as_str()) else {
        return Shown::of(AppError::forbidden(
            "this page has no permission rule",
            "此页面没有设定权限规则",
        ))
        .page(l, None, &back);
    };
    let viewer = match session_token(req.headers()) {
        Some(token) => match viewer_of(state, &token).await {
            Ok(v) => v,
            Err(e) => return Shown::of(e.0).page(l, None, &back),
        },
        None => None,
    };
    match (rule, &viewer) {
        (Rule::Public, _) => {}
        (_, None) => {
            let here = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let to = if req.method() == Method::GET {
                format!("/login?next={}", urlencode(here))
            } else {
                "/login".to_string()
            };
            return Redirect::to(&to).into_response();
        }
        (Rule::Needs(p), Some(v)) if !allows(v.caller.role, p) => {
            return Shown::of(AppError::forbidden(
                format!("a {} may not use this page", v.caller.role.label_en()),
                format!(
                    "{}（{}）无权使用此页面",
                    v.account.display_name,
                    v.caller.role.label_zh()
                ),
            ))
            .page(l, Some(v), &back);
        }
        _ => {}
    }
    if let Some(v) = &viewer {
        req.extensions_mut().insert(v.clone());
    }
    let mut r = next.run(req).await;
    if let Some(shown) = r.extensions_mut().remove::<Shown>() {
        r = shown.page(l, viewer.as_ref(), &back);
    }
    // Pages hold personal data: never cached, never framed.
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob: http: https:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

async fn viewer_of(state: &AppState, token: &str) -> Result<Option<Viewer>, PageError> {
    let now = chrono::Utc::now().timestamp_millis();
    let Some(session) = state.store.session(token, now).await? else {
        return Ok(None);
    };
    Ok(Some(Viewer {
        caller: Caller::of_account(&session.account)?,
        account: session.account,
        csrf: session.csrf_token,
    }))
}

/// The pages and their assets.
/// Every page with the permission it needs.
pub fn pages() -> Pages {
    use Permission::*;
    use Rule::*;
    Pages::new()
        .get("/", Public, home)
        .get("/login", Public, login_form)
        .post("/login", Public, login)
        .get("/signup", Public, signup_form)
        .post("/signup", Public, signup)
        .post("/logout", SignedIn, logout)
        .get("/lang", Public, switch_lang)
        .get("/ui/grids.geojson", SignedIn, grid_outlines)
        .get("/report", Needs(RegisterCase), cases::report_form)
        .post("/report", Needs(RegisterCase), cases::register)
        .get("/intake", Needs(RegisterCase), cases::intake_form)
        .post("/intake", Needs(RegisterCase), cases::register)
        .get("/my", Needs(ReadCases), cases::my_requests)
        .get("/cases", Needs(ReadCases), cases::queue)
        .post("/cases/lookup", Needs(ReadCases), cases::queue_by_phone)
        .get("/todo", Needs(ReadCases), cases::todo)
        .get("/notifications", SignedIn, notices::list)
        .get("/notifications/{id}", SignedIn, notices::open)
        .post("/notifications/read", SignedIn, notices::read_all)
        .post("/notifications/settings", SignedIn, notices::save_choice)
        .get("/ui/bell", SignedIn, notices::bell)
        .get("/ui/todo-count", Needs(ReadCases), cases::todo_count)
        .get("/cases/{id}", Needs(ReadCases), cases::case_page)
        .post("/cases/{id}/act", Needs(ActOnCase), cases::act)
        .post("/cases/{id}/unmask", Needs(Unmask), cases::unmask)
        .post("/cases/{id}/join", Needs(RegisterCase), cases::join)
        .get("/ui/nearby", Needs(RegisterCase), cases::nearby)
        .get("/grid", Needs(ReadRegistry), registry::my_grid)
        .get("/registry", Needs(ReadRegistry), registry::browse)
        .post("/registry/lookup", Needs(ReadRegistry), registry::lookup)
        .post("/registry/import", Needs(WriteRegistry), registry::import)
        .post(
            "/registry/import-confirm",
            Needs(WriteRegistry),
            registry::confirm_import,
        )
        .post(
            "/registry/import-remap",
            Needs(WriteRegistry),
            registry::remap_import,
        )
        .get("/people/{id}", Needs(ReadRegistry), registry::person)
        .post("/people/{id}/unmask", Needs(Unmask), registry::unmask)
        .post(
            "/people/{id}/edit",
            Needs(WriteRegistry),
            registry::edit_person,
        )
        .get("/dashboard", Needs(ReadRates), dashboard::dashboard)
        .get("/audit", Needs(ReadAudit), audit::audit_log)
        .get("/admin", Needs(ManageSettings), admin::admin)
        .post("/admin/units", Needs(ManageSettings), admin::create_unit)
        .post(
            "/admin/dispatch-rules",
            Needs(ManageSettings),
            admin::create_rule,
        )
        .post(
            "/admin/accounts",
            Needs(ManageAccounts),
            admin::create_account,
        )
        .get("/admin/settings", Needs(ManageSettings), settings::settings)
        .post(
            "/admin/categories",
            Needs(ManageSettings),
            settings::save_category,
        )
        .post("/admin/calendar", Needs(ManageSettings), settings::save_day)
        .post("/admin/tags", Needs(ManageSettings), settings::save_tags)
        .post(
            "/admin/hotline-categories",
            Needs(ManageSettings),
            settings::save_mapping,
        )
        .post(
            "/admin/gateway",
            Needs(ManageSettings),
            settings::save_gateway,
        )
        .post(
            "/admin/city-extent",
            Needs(ManageSettings),
            settings::save_extent,
        )
}

pub fn routes(state: AppState) -> Router<AppState> {
    let (pages, rules) = pages().into_parts(state);
    Router::new()
        .route("/static/{*file}", get(asset))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .merge(pages.route_layer(axum::middleware::from_fn_with_state(rules, gate)))
        // The per-path limits of `server::limit_body` apply; this lifts
        // axum's own 2 MB cap on form bodies, so a ledger upload may use
        // its 64 MB.
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::server::UPLOAD_BODY,
        ))
}

/// The vendored and own assets, compiled into the binary.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css",
        include_bytes!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript",
        include_bytes!("../../static/app.js"),
    ),
    (
        "vendor/htmx/htmx.min.js",
        "text/javascript",
        include_bytes!("../../static/vendor/htmx/htmx.min.js"),
    ),
    (
        "vendor/htmx/LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../static/vendor/htmx/LICENSE"),
    ),
    (
        "vendor/echarts/echarts.common.min.js",
        "text/javascript",
        include_bytes!("../../static/vendor/echarts/echarts.common.min.js"),
    ),
    (
        "vendor/echarts/LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../static/vendor/echarts/LICENSE"),
    ),
    (
        "vendor/echarts/NOTICE",
        "text/plain; charset=utf-8",
        include_bytes!("../../static/vendor/echarts/NOTICE"),
    ),
    (
        "vendor/leaflet/leaflet.js",
        "text/javascript",
        include_bytes!("../../static/vendor/leaflet/leaflet.js"),
    ),
    (
        "vendor/leaflet/leaflet.css",
        "text/css",
        include_bytes!("../../static/vendor/leaflet/leaflet.css"),
    ),
    (
        "vendor/leaflet/LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../static/vendor/leaflet/LICENSE"),
    ),
    (
        "vendor/leaflet/images/layers.png",
        "image/png",
        include_bytes!("../../static/vendor/leaflet/images/layers.png"),
    ),
    (
        "vendor/leaflet/images/layers-2x.png",
        "image/png",
        include_bytes!("../../static/vendor/leaflet/images/layers-2x.png"),
    ),
    (
        "vendor/leaflet/images/marker-icon.png",
        "image/png",
        include_bytes!("../../static/vendor/leaflet/images/marker-icon.png"),
    ),
    (
        "vendor/leaflet/images/marker-icon-2x.png",
        "image/png",
        include_bytes!("../../static/vendor/leaflet/images/marker-icon-2x.png"),
    ),
    (
        "vendor/leaflet/images/marker-shadow.png",
        "image/png",
        include_bytes!("../../static/vendor/leaflet/images/marker-shadow.png"),
    ),
];

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, ty, bytes)) => (
            [
                (header::CONTENT_TYPE, *ty),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    c: Chrome,
}

/// Signed in: the role's first page. Otherwise what linli is and the
/// sign-in link; no registry counts (they are not public, and counting a
/// city on every anonymous request would cost seconds).
async fn home(ctx: PageCtx) -> Result<Response, PageError> {
    if let Some(v) = &ctx.viewer {
        let to = match v.role() {
            Role::Resident => "/my",
            Role::GridMember => "/grid",
            // Who works on cases sees first what waits for them.
            Role::UnitHandler
            | Role::CommunityWorker
            | Role::CommunitySecretary
            | Role::SubdistrictStaff => "/todo",
            Role::DistrictAdmin | Role::Auditor => "/dashboard",
            Role::Volunteer | Role::SocialOrganisation => "/login?signed_in=1",
        };
        return Ok(Redirect::to(to).into_response());
    }
    render(Landing {
        c: ctx.chrome(
            ctx.l
                .t("邻里 · 社区治理平台", "linli · community governance"),
        ),
    })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    next: String,
    username: String,
    error: Option<String>,
    signed_in_without_pages: bool,
}

/// Where to go after signing in or switching language: a local path only.
/// Browsers drop tabs and line breaks from a URL, so `/\t/evil.example`
/// would become `//evil.example`; only visible ASCII is accepted (our own
/// links are percent-encoded), which also keeps the Location header valid.
pub(crate) fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n.clone()
        }
        _ => "/".into(),
    }
}

async fn login_form(
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    render(LoginPage {
        c: ctx.chrome(ctx.l.t("登录", "Sign in")),
        next: safe_next(q.get("next")),
        username: String::new(),
        error: None,
        signed_in_without_pages: q.contains_key("signed_in"),
    })
}

async fn login(
    State(s): State<AppState>,
    ctx: PageCtx,
    ip: crate::ClientIp,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let username = f.get("username").cloned().unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    let next = safe_next(f.get("next"));
    match ip.login(&s, &username, &password).await {
        Ok((token, _)) => Ok(crate::accounts_api::with_session_cookie(
            Redirect::to(&next).into_response(),
            &token,
        )?),
        Err(
            e @ (linli_store::StoreError::Unauthorized(_) | linli_store::StoreError::Locked { .. }),
        ) => {
            let retry_after = match &e {
                linli_store::StoreError::Locked { retry_after_s, .. } => Some(*retry_after_s),
                _ => None,
            };
            let locked = retry_after.is_some();
            let page = LoginPage {
                c: ctx.chrome(ctx.l.t("登录", "Sign in")),
                next,
                username,
                error: Some(
                    if locked {
                        ctx.l.t(
                            "失败次数过多，请15分钟后再试",
                            "Too many failures: try again in 15 minutes",
                        )
                    } else {
                        ctx.l.t("用户名或密码不对", "Wrong user name or password")
                    }
                    .to_string(),
                ),
                signed_in_without_pages: false,
            };
            let status = if locked {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            let mut r = (status, render(page)?).into_response();
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, s.into());
            }
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    c: Chrome,
    username: String,
    display_name: String,
    error: Option<String>,
}

async fn signup_form(ctx: PageCtx) -> Result<Response, PageError> {
    render(SignupPage {
        c: ctx.chrome(ctx.l.t("居民注册", "Sign up as a resident")),
        username: String::new(),
        display_name: String::new(),
        error: None,
    })
}

/// A resident makes their own account (staff accounts are made by an
/// administrator) and is signed in. Each sign-up counts against the
/// address's sign-in budget, so one address cannot mass-produce accounts.
async fn signup(
    State(s): State<AppState>,
    ctx: PageCtx,
    ip: crate::ClientIp,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let field = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (username, display_name) = (field("username"), field("display_name"));
    let password = f.get("password").cloned().unwrap_or_default();
    let again = f.get("password_again").cloned().unwrap_or_default();
    let now = chrono::Utc::now().timestamp_millis();
    ip.admit(&s, now)?;
    ip.count(&s, now);
    let refused = |message: String| {
        let page = SignupPage {
            c: ctx.chrome(ctx.l.t("居民注册", "Sign up as a resident")),
            username: username.clone(),
            display_name: display_name.clone(),
            error: Some(message),
        };
        Ok::<Response, PageError>((StatusCode::UNPROCESSABLE_ENTITY, render(page)?).into_response())
    };
    if password != again {
        return refused(
            ctx.l
                .t("两次输入的密码不一致", "The passwords differ")
                .to_string(),
        );
    }
    let made = s
        .store
        .create_account(
            "signup",
            &linli_store::accounts::NewAccount {
                username: username.clone(),
                display_name: display_name.clone(),
                role: Role::Resident.code().into(),
                password: password.clone(),
                org_code: None,
                unit_id: None,
            },
        )
        .await;
    match made {
        Ok(_) => {}
        Err(e) => {
            let e = AppError::from(e);
            return match form::FormState::refused(HashMap::new(), &e, ctx.l) {
                Some(f) => refused(f.problem().unwrap_or_default().to_string()),
                None => Err(e.into()),
            };
        }
    }
    let (token, _) = s.store.login(&username, &password, now).await?;
    Ok(crate::accounts_api::with_session_cookie(
        Redirect::to("/report").into_response(),
        &token,
    )?)
}

async fn logout(
    State(s): State<AppState>,
    ctx: PageCtx,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    ctx.viewer()?
        .check_csrf(f.get("_csrf").map(String::as_str))?;
    Ok(crate::accounts_api::end_session(&s, &headers, Redirect::to("/").into_response()).await?)
}

async fn switch_lang(Query(q): Query<HashMap<String, String>>) -> Result<Response, PageError> {
    let to = if q.get("to").map(String::as_str) == Some("en") {
        "en"
    } else {
        "zh"
    };
    let mut r = Redirect::to(&safe_next(q.get("back"))).into_response();
    let c = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={to}; Path=/; SameSite=Lax; Max-Age=31536000"
    ))
    .map_err(|e| AppError::Internal(e.to_string()))?;
    r.headers_mut().insert(header::SET_COOKIE, c);
    Ok(r)
}

/// Grid outlines (id, code, name; no figures) for the maps of any
/// signed-in viewer: a resident pins a report on them.
async fn grid_outlines(State(s): State<AppState>) -> Result<Response, PageError> {
    Ok(crate::api::grids_feature_collection(&s.store, &Scope::Everything).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(page: &str, total: i64) -> PageNumbers {
        let q: HashMap<String, String> = [("page".to_string(), page.to_string())].into();
        PageNumbers::new("/cases", &q, total, false)
    }

    #[test]
    fn numbered_pages_reach_the_last_partly_filled_page() {
        // 120 rows: pages 1, 2, 3 (rows 101–120).
        let p = at("3", 120);
        assert_eq!(p.page, 3);
        assert_eq!(p.next, None);
        assert_eq!(p.prev.as_deref(), Some("/cases?page=2"));
        assert_eq!(
            p.links.last().map(|l| (l.0, l.1.is_none())),
            Some((3, true))
        );
        // Past the end: the last page; before the start: the first.
        assert_eq!(at("9", 120).page, 3);
        assert_eq!(at("0", 120).page, 1);
        assert_eq!(at("x", 120).page, 1);
        // One page: no links; empty: one page.
        assert!(at("1", 50).links.is_empty() && at("1", 50).next.is_none());
        assert_eq!(at("1", 0).page, 1);
        // Far pages are elided around the current one.
        let p = at("10", 1_000);
        let shown: Vec<i64> = p.links.iter().map(|l| l.0).collect();
        assert_eq!(shown, vec![1, 0, 8, 9, 10, 11, 12, 0, 20]);
        // The first page's link drops the parameter.
        assert_eq!(at("2", 120).prev.as_deref(), Some("/cases"));
        // The queue's offset stays within what a list pages to by offset.
        let q: HashMap<String, String> = [("page".to_string(), "999".to_string())].into();
        let deepest = (PageNumbers::asked(&q, linli_store::cases::MAX_OFFSET) - 1) * PAGE_ROWS;
        assert!(deepest <= linli_store::cases::MAX_OFFSET);
    }
}
