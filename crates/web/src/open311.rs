//! Open311 GeoReport v2 under /open311/v2, in JSON and XML: discovery,
//! services and their definitions, POST and GET requests, tokens.
//! Internal states map to open/closed, with the Chinese state and the last
//! timeline note in status_notes. Times carry the +08:00 offset.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use linli_core::case::State as CaseState;
use linli_store::cases::{CaseFilter, CaseView, NewRequest};
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
        StoreError::Conflict(m) => error(fmt, StatusCode::CONFLICT, &m),
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

fn parse_w3c(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/{file}", get(top).post(post_request))
        .route("/open311/v2/services/{file}", get(service_definition))
        .route("/open311/v2/requests/{file}", get(request_one))
        .route("/open311/v2/tokens/{file}", get(token))
}

async fn top(
    State(s): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (name, fmt) = match split(&file) {
        Ok(x) => x,
        Err(f) => return f.into_response(),
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
                "key_service": "API keys are issued by the district administrator (linli apikey create)",
                "endpoints": [{
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": "/open311/v2",
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
                            "keywords": c.name_en.to_lowercase().replace(' ', ","),
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

async fn service_definition(State(s): State<AppState>, Path(file): Path<String>) -> Response {
    let (code, fmt) = match split(&file) {
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
    let from = match q.get("start_date").filter(|v| !v.is_empty()) {
        Some(v) => match parse_w3c(v) {
            Some(t) => Some(t),
            None => {
                return error(
                    fmt,
                    StatusCode::BAD_REQUEST,
                    "start_date: not a w3 datetime",
                );
            }
        },
        None => None,
    };
    let to = match q.get("end_date").filter(|v| !v.is_empty()) {
        Some(v) => match parse_w3c(v) {
            Some(t) => Some(t),
            None => return error(fmt, StatusCode::BAD_REQUEST, "end_date: not a w3 datetime"),
        },
        None => None,
    };
    // The spec's default window: the last 90 days; at most 1000 results.
    let now = Utc::now().timestamp_millis();
    let to_ms = to.unwrap_or(now + 1);
    let from_ms = from.unwrap_or(to_ms - 90 * 86_400_000);
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
    let f = CaseFilter {
        category: q.get("service_code").filter(|v| !v.is_empty()).cloned(),
        created_from: Some(from_ms),
        created_to: Some(to_ms),
        open,
        limit: 500,
        ..Default::default()
    };
    match s.store.cases(&all, &f).await {
        Ok(list) => {
            let mut out = Vec::new();
            for c in list {
                let st = CaseState::parse(&c.row.state)
                    .map(|x| x.open311_status())
                    .unwrap_or("open");
                if wanted.is_empty() || wanted.contains(&st) {
                    out.push(as_request(&c));
                }
            }
            respond(
                fmt,
                StatusCode::OK,
                "service_requests",
                "request",
                Value::Array(out),
            )
        }
        Err(e) => store_error(fmt, e),
    }
}

async fn request_one(State(s): State<AppState>, Path(file): Path<String>) -> Response {
    let (code, fmt) = match split(&file) {
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

async fn token(State(s): State<AppState>, Path(file): Path<String>) -> Response {
    let (tok, fmt) = match split(&file) {
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

/// POST /open311/v2/requests.{fmt}, form-encoded, with api_key.
async fn post_request(
    State(s): State<AppState>,
    Path(file): Path<String>,
    body: Bytes,
) -> Response {
    let (name, fmt) = match split(&file) {
        Ok(x) => x,
        Err(f) => return f.into_response(),
    };
    if name != "requests" {
        return error(fmt, StatusCode::NOT_FOUND, "no such resource");
    }
    let form: HashMap<String, String> = match serde_urlencoded_pairs(&body) {
        Ok(f) => f,
        Err(m) => return error(fmt, StatusCode::BAD_REQUEST, &m),
    };
    let key = form.get("api_key").map(String::as_str).unwrap_or("");
    let caller = if !key.is_empty() && crate::same_secret(key.as_bytes(), s.admin_token.as_bytes())
    {
        Some(("admin".to_string(), Scope::Everything))
    } else if key.is_empty() {
        None
    } else {
        match s.store.check_api_key(key).await {
            Ok(c) => c,
            Err(e) => return store_error(fmt, e),
        }
    };
    let Some((who, scope)) = caller else {
        return error(
            fmt,
            StatusCode::FORBIDDEN,
            "api_key is missing or not valid",
        );
    };
    let num = |k: &str| -> Result<Option<f64>, Fail> {
        match form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|e| {
                Fail(
                    fmt,
                    StatusCode::BAD_REQUEST,
                    format!("{k}: not a number ({e})"),
                )
            }),
        }
    };
    let (lat, lon) = match (num("lat"), num("long")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(f), _) | (_, Err(f)) => return f.into_response(),
    };
    let service_code = form.get("service_code").cloned().unwrap_or_default();
    if service_code.trim().is_empty() {
        return error(fmt, StatusCode::BAD_REQUEST, "service_code: is required");
    }
    let address = form.get("address_string").cloned();
    if lat.is_none() && address.as_deref().unwrap_or("").trim().is_empty() {
        return error(
            fmt,
            StatusCode::BAD_REQUEST,
            "a location is required: lat and long, or address_string",
        );
    }
    let name = [form.get("last_name"), form.get("first_name")]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .collect::<String>();
    let description = form.get("description").cloned().unwrap_or_default();
    let req = NewRequest {
        channel: "api".into(),
        external_id: None,
        category: Some(service_code),
        title: None,
        description: if description.trim().is_empty() {
            "(Open311)".into()
        } else {
            description
        },
        address,
        lon,
        lat,
        org_code: None,
        reporter_name: (!name.is_empty()).then_some(name),
        reporter_phone: form.get("phone").cloned(),
    };
    let req = if req.lon.is_none() {
        // Without a point the request belongs to the key's own area.
        match &scope {
            Scope::Subtree(p) => {
                let ids = p.ids();
                let root = ids.last().copied().unwrap_or(0);
                match s.store.org_unit(&scope, root).await {
                    Ok(u) => NewRequest {
                        org_code: Some(u.code),
                        ..req
                    },
                    Err(e) => return store_error(fmt, e),
                }
            }
            Scope::Everything | Scope::Reporter(_) | Scope::Unit(_) => {
                return error(fmt, StatusCode::BAD_REQUEST, "lat and long are required");
            }
        }
    } else {
        req
    };
    match s
        .store
        .intake(&scope, &format!("open311:{who}"), &req)
        .await
    {
        Ok(c) => respond(
            fmt,
            StatusCode::CREATED,
            "service_requests",
            "request",
            json!([{"service_request_id": c.row.code, "token": c.row.code, "service_notice": format!("{}，处理时限至 {}", c.state_zh, c.row.due_at.or(c.row.response_due).map(w3c).unwrap_or_default()), "account_id": ""}]),
        ),
        Err(e) => store_error(fmt, e),
    }
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
