//! Open311 GeoReport v2 under /open311/v2, in JSON and XML: discovery,
//! services and their definitions, POST and GET requests, tokens.
//! Internal states map to open/closed, with the Chinese state and the last
//! timeline note in status_notes. Times carry the +08:00 offset.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use linli_core::case::State as CaseState;
use linli_store::cases::{CaseFilter, CaseView, NewRequest};
use linli_store::registry::{AddressMatch, CompoundPlace};
use linli_store::{Scope, StoreError};
use serde_json::{Value, json};

use crate::AppState;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Xml,
}

/// An error to answer in the spec's format.
struct Fail(Format, StatusCode, String);

impl From<Fail> for Response {
    fn from(f: Fail) -> Response {
        f.into_response()
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        error(self.0, self.1, &self.2)
    }
}

/// Splits "requests.json" into ("requests", Json).
fn split(file: &str) -> Result<(String, Format), Fail> {
    match file.rsplit_once('.') {
        Some((name, "json")) => Ok((name.to_string(), Format::Json)),
        Some((name, "xml")) => Ok((name.to_string(), Format::Xml)),
        _ => Err(Fail(
            Format::Json,
            StatusCode::NOT_FOUND,
            "use a .json or .xml path".into(),
        )),
    }
}

/// Text for XML: HTML-style escaping (valid XML) without the control
/// characters that XML 1.0 forbids.
fn xml_escape(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| (*c as u32) >= 0x20 || matches!(c, '\n' | '\r' | '\t'))
        .collect();
    escape(&clean)
}

/// JSON value as XML elements; arrays repeat the element name `item`.
fn to_xml(name: &str, v: &Value, item: &str, out: &mut String) {
    match v {
        Value::Array(list) => {
            out.push_str(&format!("<{name}>"));
            for x in list {
                to_xml(item, x, "value", out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Object(map) => {
            out.push_str(&format!("<{name}>"));
            for (k, x) in map {
                let inner = if k == "attributes" {
                    "attribute"
                } else if k == "formats" {
                    "format"
                } else if k == "endpoints" {
                    "endpoint"
                } else {
                    "value"
                };
                to_xml(k, x, inner, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", xml_escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

fn respond(fmt: Format, status: StatusCode, root: &str, item: &str, v: Value) -> Response {
    match fmt {
        Format::Json => {
            let mut r = (status, axum::Json(v)).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        }
        Format::Xml => {
            let mut body = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            to_xml(root, &v, item, &mut body);
            let mut r = (status, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            );
            r
        }
    }
}

/// Errors in the spec's format: a list of {code, description}.
fn error(fmt: Format, status: StatusCode, description: &str) -> Response {
    respond(
        fmt,
        status,
        "errors",
        "error",
        json!([{"code": status.as_u16(), "description": description}]),
    )
}

fn store_error(fmt: Format, e: StoreError) -> Response {
    match e {
        StoreError::NotFound(m) | StoreError::OutOfScope(m) => {
            error(fmt, StatusCode::NOT_FOUND, &m)
        }
        StoreError::Invalid { field, message } => {
            error(fmt, StatusCode::BAD_REQUEST, &format!("{field}: {message}"))
        }
        StoreError::Conflict(m) => error(fmt, StatusCode::CONFLICT, &m.en),
        other => {
            tracing::error!("open311: {other}");
            error(fmt, StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn w3c(ms: i64) -> String {
    let bj =
        FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is a valid offset"));
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| {
            t.with_timezone(&bj)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        })
        .unwrap_or_default()
}

/// A W3C date-time (the profile of ISO 8601 the spec names): a full
/// RFC 3339 time, one without seconds (`2026-01-01T00:00Z`), a date, a
/// month or a year. A time without an offset, and a bare date, are in
/// Beijing time.
fn parse_w3c(s: &str) -> Option<i64> {
    let s = s.trim();
    let bj = FixedOffset::east_opt(8 * 3600)?;
    let zoned = match s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        Some(rest) => format!("{rest}+00:00"),
        None => s.to_string(),
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(&zoned) {
        return Some(t.timestamp_millis());
    }
    for f in ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(t) = DateTime::parse_from_str(&zoned, f) {
            return Some(t.timestamp_millis());
        }
    }
    let local = |t: chrono::NaiveDateTime| {
        bj.from_local_datetime(&t)
            .single()
            .map(|t| t.timestamp_millis())
    };
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return local(t);
        }
    }
    let date = match s.len() {
        10 => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
        7 => chrono::NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok(),
        4 => chrono::NaiveDate::parse_from_str(&format!("{s}-01-01"), "%Y-%m-%d").ok(),
        _ => None,
    }?;
    local(date.and_hms_opt(0, 0, 0)?)
}

/// The spec's window for listing requests: 90 days at most, the most
/// recent 90 when no dates are given.
const WINDOW_MS: i64 = 90 * 86_400_000;
/// The spec's largest answer.
const LIST_LIMIT: i64 = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/open311/v2/{file}",
            get(top).post(post_request).fallback(wrong_method),
        )
        .route(
            "/open311/v2/services/{file}",
            get(service_definition).fallback(wrong_method),
        )
        .route(
            "/open311/v2/requests/{file}",
            get(request_one).fallback(wrong_method),
        )
        .route(
            "/open311/v2/tokens/{file}",
            get(token).fallback(wrong_method),
        )
}

/// The path's file and format, or the answer to a path that cannot be read.
fn file_of(file: Result<Path<String>, PathRejection>) -> Result<(String, Format), Fail> {
    match file {
        Ok(Path(f)) => split(&f),
        Err(e) => Err(Fail(Format::Json, e.status(), e.body_text())),
    }
}

/// The site's own address, as the client reached it (for discovery).
fn site(headers: &HeaderMap) -> String {
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let host = get("x-forwarded-host")
        .or_else(|| get("host"))
        .unwrap_or_else(|| "localhost".into());
    let scheme = get("x-forwarded-proto").unwrap_or_else(|| "http".into());
    format!("{scheme}://{host}")
}

async fn top(
    State(s): State<AppState>,
    file: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let (name, fmt) = match file_of(file) {
        Ok(x) => x,
        Err(f) => return f.into_response(),
    };
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error(fmt, StatusCode::BAD_REQUEST, &e.body_text()),
    };
    match name.as_str() {
        "discovery" => respond(
            fmt,
            StatusCode::OK,
            "discovery",
            "endpoint",
            json!({
                "changeset": "2026-11-22T00:00:00+08:00",
                "contact": "linli community governance platform",
                "key_service": "API keys are issued by the district administrator, who runs: linli apikey --name NAME [--scope ORG_CODE] (a key acts as subdistrict staff of its area)",
                "endpoints": [{
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": format!("{}/open311/v2", site(&headers)),
                    "changeset": "2026-11-22T00:00:00+08:00",
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }],
            }),
        ),
        "services" => match s.store.categories().await {
            Ok(cats) => {
                let groups: HashMap<String, String> = cats
                    .iter()
                    .filter(|c| !c.is_leaf())
                    .map(|c| (c.code.clone(), c.name.clone()))
                    .collect();
                let list: Vec<Value> = cats
                    .iter()
                    .filter(|c| c.is_leaf())
                    .map(|c| {
                        json!({
                            "service_code": c.code,
                            "service_name": c.name,
                            "description": c.name_en,
                            "metadata": true,
                            "type": "realtime",
                            "keywords": keywords(c, &groups),
                            "group": c.parent.as_ref().and_then(|p| groups.get(p)).cloned().unwrap_or_default(),
                        })
                    })
                    .collect();
                respond(
                    fmt,
                    StatusCode::OK,
                    "services",
                    "service",
                    Value::Array(list),
                )
            }
            Err(e) => store_error(fmt, e),
        },
        "requests" => get_requests(&s, fmt, &q).await,
        _ => error(fmt, StatusCode::NOT_FOUND, "no such resource"),
    }
}

/// A service's keywords, in the words people use: its Chinese name, the
/// parts of that name (电梯故障、停运 → 电梯故障, 停运), its group's name.
fn keywords(c: &linli_core::category::Category, groups: &HashMap<String, String>) -> String {
    let mut words: Vec<String> = vec![c.name.clone()];
    for part in c
        .name
        .split(['、', '/', '／', '，', ',', '（', '）', '(', ')', '与', '及'])
    {
        let part = part.trim();
        if part.chars().count() >= 2 && !words.iter().any(|w| w == part) {
            words.push(part.to_string());
        }
    }
    if let Some(g) = c.parent.as_ref().and_then(|p| groups.get(p))
        && !words.contains(g)
    {
        words.push(g.clone());
    }
    words.join(",")
}

/// Any method but those a path takes: 405 in the spec's error format.
async fn wrong_method(file: Result<Path<String>, PathRejection>, method: Method) -> Response {
    let fmt = match file_of(file) {
        Ok((_, fmt)) => fmt,
        Err(f) => return f.into_response(),
    };
    error(
        fmt,
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("{method} is not taken here"),
    )
}

/// The body limit's refusal, for an Open311 path: in the spec's format.
pub(crate) fn too_large(path: &str, limit: usize) -> Response {
    let fmt = if path.ends_with(".xml") {
        Format::Xml
    } else {
        Format::Json
    };
    error(
        fmt,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than {limit} bytes"),
    )
}

async fn service_definition(
    State(s): State<AppState>,
    file: Result<Path<String>, PathRejection>,
) -> Response {
    let (code, fmt) = match file_of(file) {
        Ok(x) => x,
        Err(f) => return f.into_response(),
    };
    let cats = match s.store.categories().await {
        Ok(c) => c,
        Err(e) => return store_error(fmt, e),
    };
    match cats.iter().find(|c| c.code == code && c.is_leaf()) {
        None => error(fmt, StatusCode::NOT_FOUND, &format!("no service {code}")),
        Some(c) => respond(
            fmt,
            StatusCode::OK,
            "service_definition",
            "attribute",
            json!({
                "service_code": c.code,
                "attributes": [{
                    "variable": true,
                    "code": "urgency",
                    "datatype": "singlevaluelist",
                    "required": false,
                    "datatype_description": "紧急程度 / urgency",
                    "order": 1,
                    "description": "是否紧急 (Is it urgent?)",
                    "values": [{"key": "normal", "name": "一般"}, {"key": "urgent", "name": "紧急"}],
                }],
            }),
        ),
    }
}

/// A case as an Open311 service request, public fields only: anyone may
/// read these. The description is masked of ID numbers, phones and room
/// numbers; the
/// place is the grid's name and a point rounded to about 100 m; staff
/// notes, ratings, the exact address and the reporter never appear.
fn as_request(c: &CaseView) -> Value {
    let state = CaseState::parse(&c.row.state).unwrap_or(CaseState::Registered);
    let coarse = |x: Option<f64>| x.map(|v| (v * 1000.0).round() / 1000.0);
    json!({
        "service_request_id": c.row.code,
        "status": state.open311_status(),
        "status_notes": c.state_zh,
        "service_name": c.row.category_name.clone().unwrap_or_default(),
        "service_code": c.row.category_code.clone().unwrap_or_default(),
        "description": linli_core::mask::public_text(&c.row.description),
        "agency_responsible": c.row.unit_name.clone().unwrap_or_default(),
        "service_notice": "",
        "requested_datetime": w3c(c.row.created_at),
        "updated_datetime": w3c(c.row.updated_at),
        "expected_datetime": c.row.due_at.map(w3c),
        "address": c.row.grid_name.clone().unwrap_or_default(),
        "address_id": "",
        "zipcode": "",
        "lat": coarse(c.row.lat),
        "long": coarse(c.row.lon),
        "media_url": "",
    })
}

async fn get_requests(s: &AppState, fmt: Format, q: &HashMap<String, String>) -> Response {
    let all = Scope::Everything;
    if let Some(ids) = q.get("service_request_id").filter(|v| !v.is_empty()) {
        let mut out = Vec::new();
        for code in ids.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if let Ok(c) = s.store.case_by_code(&all, code).await {
                out.push(as_request(&c));
            }
        }
        return respond(
            fmt,
            StatusCode::OK,
            "service_requests",
            "request",
            Value::Array(out),
        );
    }
    if !s.open311_public_list {
        return error(
            fmt,
            StatusCode::NOT_FOUND,
            "listing requests is turned off on this server; ask for one by service_request_id",
        );
    }
    let date = |k: &str| -> Result<Option<i64>, Fail> {
        match q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => parse_w3c(v).map(Some).ok_or_else(|| {
                Fail(
                    fmt,
                    StatusCode::BAD_REQUEST,
                    format!("{k}: '{v}' is not a W3C date-time such as 2026-01-01 or 2026-01-01T08:00:00+08:00"),
                )
            }),
        }
    };
    let (from, to) = match (date("start_date"), date("end_date")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(f), _) | (_, Err(f)) => return f.into_response(),
    };
    // The spec: the most recent 90 days by default; a range may not span
    // more than 90 days. One date alone opens a 90-day window from it.
    let now = Utc::now().timestamp_millis();
    let (from_ms, to_ms) = match (from, to) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, (a + WINDOW_MS).min(now + 1)),
        (None, Some(b)) => (b - WINDOW_MS, b),
        (None, None) => (now + 1 - WINDOW_MS, now + 1),
    };
    if to_ms < from_ms {
        return error(
            fmt,
            StatusCode::BAD_REQUEST,
            "end_date: is before start_date",
        );
    }
    if to_ms - from_ms > WINDOW_MS {
        return error(
            fmt,
            StatusCode::BAD_REQUEST,
            "start_date, end_date: a search may not span more than 90 days",
        );
    }
    let status = q.get("status").map(String::as_str).unwrap_or("");
    let wanted: Vec<&str> = status
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect();
    if wanted.iter().any(|w| *w != "open" && *w != "closed") {
        return error(fmt, StatusCode::BAD_REQUEST, "status: open or closed");
    }
    // The status filter is applied by the store, before the limit.
    let open = match wanted.as_slice() {
        ["open"] => Some(true),
        ["closed"] => Some(false),
        _ => None,
    };
    // A comma list of service codes: one search each, merged newest first.
    let codes: Vec<Option<String>> = match q.get("service_code").map(|v| v.trim()) {
        Some(v) if !v.is_empty() => v
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| Some(c.to_string()))
            .collect(),
        _ => vec![None],
    };
    let mut found: Vec<CaseView> = Vec::new();
    for category in codes {
        let f = CaseFilter {
            category,
            created_from: Some(from_ms),
            created_to: Some(to_ms),
            open,
            limit: LIST_LIMIT,
            ..Default::default()
        };
        match s.store.cases(&all, &f).await {
            Ok(list) => found.extend(list),
            Err(e) => return store_error(fmt, e),
        }
    }
    found.sort_by(|a, b| {
        b.row
            .created_at
            .cmp(&a.row.created_at)
            .then(b.row.id.cmp(&a.row.id))
    });
    found.dedup_by_key(|c| c.row.id);
    found.truncate(usize::try_from(LIST_LIMIT).unwrap_or(usize::MAX));
    let out: Vec<Value> = found
        .iter()
        .filter(|c| {
            let st = CaseState::parse(&c.row.state)
                .map(|x| x.open311_status())
                .unwrap_or("open");
            wanted.is_empty() || wanted.contains(&st)
        })
        .map(as_request)
        .collect();
    respond(
        fmt,
        StatusCode::OK,
        "service_requests",
        "request",
        Value::Array(out),
    )
}

async fn request_one(
    State(s): State<AppState>,
    file: Result<Path<String>, PathRejection>,
) -> Response {
    let (code, fmt) = match file_of(file) {
        Ok(x) => x,
        Err(f) => return f.into_response(),
    };
    match s.store.case_by_code(&Scope::Everything, &code).await {
        Ok(c) => {
            let v = as_request(&c);
            respond(
                fmt,
                StatusCode::OK,
                "service_requests",
                "request",
                json!([v]),
            )
        }
        Err(e) => store_error(fmt, e),
    }
}

async fn token(State(s): State<AppState>, file: Result<Path<String>, PathRejection>) -> Response {
    let (tok, fmt) = match file_of(file) {
        Ok(x) => x,
        Err(f) => return f.into_response(),
    };
    // Requests are registered at once, so the token is the request's id.
    match s.store.case_by_code(&Scope::Everything, &tok).await {
        Ok(c) => respond(
            fmt,
            StatusCode::OK,
            "service_requests",
            "request",
            json!([{"service_request_id": c.row.code, "token": tok}]),
        ),
        Err(e) => store_error(fmt, e),
    }
}

/// A POSTed request's fields, and its photo when sent as multipart.
struct Posted {
    form: HashMap<String, String>,
    media: Option<Vec<u8>>,
}

/// Reads the body as application/x-www-form-urlencoded or as
/// multipart/form-data (a file part named `media` is the photo).
async fn read_posted(s: &AppState, fmt: Format, req: Request) -> Result<Posted, Fail> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let body = Bytes::from_request(req, s)
            .await
            .map_err(|e| Fail(fmt, e.status(), e.body_text()))?;
        let form =
            serde_urlencoded_pairs(&body).map_err(|m| Fail(fmt, StatusCode::BAD_REQUEST, m))?;
        return Ok(Posted { form, media: None });
    }
    let mut parts = Multipart::from_request(req, s)
        .await
        .map_err(|e| Fail(fmt, e.status(), e.body_text()))?;
    let mut posted = Posted {
        form: HashMap::new(),
        media: None,
    };
    loop {
        let part = match parts.next_field().await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => return Err(Fail(fmt, e.status(), e.body_text())),
        };
        let name = part.name().unwrap_or("").to_string();
        let is_file = part.file_name().is_some();
        let bytes = part
            .bytes()
            .await
            .map_err(|e| Fail(fmt, e.status(), e.body_text()))?;
        if name == "media" && is_file {
            if !bytes.is_empty() {
                posted.media = Some(bytes.to_vec());
            }
        } else if is_file {
            return Err(Fail(
                fmt,
                StatusCode::BAD_REQUEST,
                format!("{name}: only a file named media (a photo) is taken"),
            ));
        } else {
            let text = String::from_utf8(bytes.to_vec()).map_err(|e| {
                Fail(
                    fmt,
                    StatusCode::BAD_REQUEST,
                    format!("{name}: not UTF-8 text ({e})"),
                )
            })?;
            posted.form.insert(name, text);
        }
    }
    Ok(posted)
}

/// The attributes of every service (see [`service_definition`]): code and
/// the keys it takes.
const ATTRIBUTES: &[(&str, &[&str])] = &[("urgency", &["normal", "urgent"])];

/// `attribute[code]` (or `attribute[code][]`) fields, checked against the
/// service definition.
fn attributes(form: &HashMap<String, String>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (k, v) in form {
        let Some(code) = k
            .strip_prefix("attribute[")
            .map(|r| r.trim_end_matches("[]").trim_end_matches(']'))
        else {
            continue;
        };
        let Some((_, keys)) = ATTRIBUTES.iter().find(|(c, _)| *c == code) else {
            return Err(format!("{k}: this service has no attribute {code}"));
        };
        let v = v.trim();
        if !v.is_empty() && !keys.contains(&v) {
            return Err(format!("{k}: '{v}' is not one of {}", keys.join(", ")));
        }
        if !v.is_empty() {
            out.push((format!("attribute.{code}"), v.to_string()));
        }
    }
    out.sort();
    Ok(out)
}

/// Where a request without a point goes: the compound its address_id or
/// address_string names, else the key's own grid or community.
async fn place_without_point(
    s: &AppState,
    fmt: Format,
    scope: &Scope,
    form: &HashMap<String, String>,
) -> Result<(Option<f64>, Option<f64>, Option<String>), Fail> {
    let given = |k: &str| form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let place = |c: CompoundPlace| match (c.lon, c.lat) {
        (Some(lon), Some(lat)) => (Some(lon), Some(lat), None),
        _ => (None, None, Some(c.grid_code)),
    };
    if let Some(id) = given("address_id") {
        let id: i64 = id.parse().map_err(|e| {
            Fail(
                fmt,
                StatusCode::BAD_REQUEST,
                format!("address_id: '{id}' is not a compound number ({e})"),
            )
        })?;
        return match s.store.compound_place(scope, id).await {
            Ok(c) => Ok(place(c)),
            Err(StoreError::NotFound(m)) => Err(Fail(
                fmt,
                StatusCode::BAD_REQUEST,
                format!("address_id: {m}"),
            )),
            Err(e) => Err(Fail(fmt, StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        };
    }
    if let Some(text) = given("address_string") {
        match s.store.place_address(scope, text).await {
            Ok(AddressMatch::Compound(c)) => return Ok(place(c)),
            Ok(AddressMatch::Several(names)) => {
                return Err(Fail(
                    fmt,
                    StatusCode::BAD_REQUEST,
                    format!(
                        "address_string: {} is the name of compounds in several grids; send lat and long",
                        names.first().cloned().unwrap_or_default()
                    ),
                ));
            }
            Ok(AddressMatch::Nowhere) => {}
            Err(e) => return Err(Fail(fmt, StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        }
    }
    // A key for one grid or community places what it cannot find there.
    if let Scope::Subtree(p) = scope
        && let Some(root) = p.ids().last().copied()
        && let Ok(u) = s.store.org_unit(scope, root).await
        && matches!(u.kind.as_str(), "grid" | "community")
    {
        return Ok((None, None, Some(u.code)));
    }
    Err(Fail(
        fmt,
        StatusCode::BAD_REQUEST,
        match given("address_string") {
            Some(a) => format!(
                "address_string: '{a}' names no compound of this area; send lat and long, or an address_id"
            ),
            None => "a location is required: lat and long, address_string or address_id".into(),
        },
    ))
}

/// POST /open311/v2/requests.{fmt}, form-encoded or multipart, with api_key.
async fn post_request(
    State(s): State<AppState>,
    file: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    let (name, fmt) = match file_of(file) {
        Ok(x) => x,
        Err(f) => return f.into_response(),
    };
    if name != "requests" {
        return error(fmt, StatusCode::NOT_FOUND, "no such resource");
    }
    match post_checked(&s, fmt, req).await {
        Ok(r) | Err(r) => r,
    }
}

async fn post_checked(s: &AppState, fmt: Format, req: Request) -> Result<Response, Response> {
    let Posted { form, media } = read_posted(s, fmt, req).await?;
    let bad = |m: String| Fail(fmt, StatusCode::BAD_REQUEST, m);
    let key = form.get("api_key").map(String::as_str).unwrap_or("");
    let caller = if !key.is_empty() && crate::same_secret(key.as_bytes(), s.admin_token.as_bytes())
    {
        Some(("admin".to_string(), Scope::Everything))
    } else if key.is_empty() {
        None
    } else {
        s.store
            .check_api_key(key)
            .await
            .map_err(|e| Fail(fmt, StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    };
    let Some((who, scope)) = caller else {
        return Err(Fail(
            fmt,
            StatusCode::FORBIDDEN,
            "api_key is missing or not valid".into(),
        )
        .into());
    };
    let num = |k: &str| -> Result<Option<f64>, Fail> {
        match form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|e| bad(format!("{k}: not a number ({e})"))),
        }
    };
    let (lat, lon) = (num("lat")?, num("long")?);
    let service_code = form
        .get("service_code")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    if service_code.is_empty() {
        return Err(bad("service_code: is required".into()).into());
    }
    let services = s
        .store
        .categories()
        .await
        .map_err(|e| Fail(fmt, StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if !services
        .iter()
        .any(|c| c.code == service_code && c.is_leaf())
    {
        return Err(Fail(
            fmt,
            StatusCode::NOT_FOUND,
            format!("service_code: no service {service_code}"),
        )
        .into());
    }
    let mut details: std::collections::BTreeMap<String, String> =
        attributes(&form).map_err(bad)?.into_iter().collect();
    if let Some(url) = form
        .get("media_url")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        details.insert("media_url".into(), url.to_string());
    }
    if let Some(photo) = &media {
        linli_store::photos::check_photo(photo).map_err(|e| match e {
            StoreError::Invalid { message, .. } => bad(format!("media: {message}")),
            other => Fail(fmt, StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        })?;
    }
    let (lon, lat, org_code) = match (lon, lat) {
        (Some(lon), Some(lat)) => (Some(lon), Some(lat), None),
        (None, None) => place_without_point(s, fmt, &scope, &form).await?,
        _ => return Err(bad("lat and long go together".into()).into()),
    };
    let name = [form.get("last_name"), form.get("first_name")]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .collect::<String>();
    // A phone that is not a mainland mobile (a landline, a number from
    // abroad) is kept as given, with the e-mail and device id, sealed.
    let phone = form
        .get("phone")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty());
    let mobile = phone.filter(|p| linli_core::validate::mobile_phone(p).is_ok());
    let other_contact: Vec<String> = [
        ("phone", phone.filter(|_| mobile.is_none())),
        ("email", form.get("email").map(|v| v.trim())),
        ("device_id", form.get("device_id").map(|v| v.trim())),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| format!("{k}: {v}")))
    .collect();
    let description = form.get("description").cloned().unwrap_or_default();
    let req = NewRequest {
        channel: "api".into(),
        category: Some(service_code),
        description: if description.trim().is_empty() {
            "(Open311)".into()
        } else {
            description
        },
        address: form.get("address_string").cloned(),
        lon,
        lat,
        org_code,
        reporter_name: (!name.is_empty()).then_some(name),
        reporter_phone: mobile.map(str::to_string),
        other_contact: (!other_contact.is_empty()).then(|| other_contact.join("; ")),
        details,
        ..Default::default()
    };
    let actor = format!("open311:{who}");
    let c = s
        .store
        .intake(&scope, &actor, &req)
        .await
        .map_err(|e| store_error(fmt, e))?;
    if let Some(photo) = &media
        && let Err(e) = s.store.add_photo(&scope, &actor, c.row.id, photo).await
    {
        // The request is registered; the photo was checked above, so this
        // is a fault of the server, said as such.
        tracing::error!("open311: photo of {} not kept: {e}", c.row.code);
    }
    let notice = format!(
        "{}，处理时限至 {}",
        c.state_zh,
        c.row
            .due_at
            .or(c.row.response_due)
            .map(w3c)
            .unwrap_or_default()
    );
    // Requests are registered at once: the answer carries the id, and no
    // token (the spec gives one or the other).
    Ok(respond(
        fmt,
        StatusCode::CREATED,
        "service_requests",
        "request",
        json!([{"service_request_id": c.row.code, "service_notice": notice, "account_id": ""}]),
    ))
}

/// Decodes application/x-www-form-urlencoded (as Open311 clients send).
fn serde_urlencoded_pairs(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the form is not UTF-8 ({e})"))?;
    let mut out = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k)?, percent_decode(v)?);
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or("bad % escape in the form")?;
                out.push(
                    u8::from_str_radix(hex, 16)
                        .map_err(|e| format!("bad % escape in the form ({e})"))?,
                );
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|e| format!("the form is not UTF-8 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_xml() {
        let f = serde_urlencoded_pairs(
            b"api_key=k&description=%E7%94%B5%E6%A2%AF+%E5%9D%8F%E4%BA%86&lat=32.02",
        )
        .unwrap();
        assert_eq!(f["description"], "电梯 坏了");
        assert!(serde_urlencoded_pairs(b"a=%zz").is_err());
        assert!(serde_urlencoded_pairs(b"a=%e").is_err());
        let mut x = String::new();
        to_xml(
            "service_requests",
            &json!([{"a": "<&>", "b": null}]),
            "request",
            &mut x,
        );
        assert_eq!(
            x,
            "<service_requests><request><a>&lt;&amp;&gt;</a><b/></request></service_requests>"
        );
        assert_eq!(w3c(0), "1970-01-01T08:00:00+08:00");
    }

    #[test]
    fn w3c_dates_in_every_form_the_spec_allows() {
        let midnight_bj = parse_w3c("2026-01-01T00:00:00+08:00").unwrap();
        for same in [
            "2026-01-01",
            "2026-01",
            "2026",
            "2026-01-01T00:00",
            "2026-01-01T00:00:00",
            "2025-12-31T16:00Z",
            "2025-12-31T16:00:00.000Z",
            "2026-01-01T00:00+08:00",
        ] {
            assert_eq!(parse_w3c(same), Some(midnight_bj), "{same}");
        }
        for bad in ["yesterday", "2026-13-01", "01/02/2026", "", "2026-1-1"] {
            assert_eq!(parse_w3c(bad), None, "{bad}");
        }
    }
}

/// Escapes text for XML element content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod escape_tests {
    #[test]
    fn escapes_hostile_text() {
        assert_eq!(
            super::escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
