//! The API's OpenAPI 3.1 document, generated from the handlers' own types
//! (aide): a handler's extractors say what it reads (path, query, body)
//! and its return type what it answers, so the document cannot drift from
//! the code. Served at `/api/v1/openapi.json`.
//!
//! The extractors here are the typed HTTP boundary every capability uses:
//! [`JsonBody`] (a JSON body, errors in both languages), [`QueryOf`] (the
//! query, documented by a struct), [`Upload`] (a file as the body), and the
//! outputs [`File`] and [`JsonWithCookie`] for answers that are not plain
//! JSON.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::OnceLock;

use aide::generate::GenContext;
use aide::openapi::{
    MediaType, Operation, Parameter, ParameterData, ParameterSchemaOrContent, PathStyle,
    RequestBody, Response, SchemaObject,
};
use aide::operation::{OperationInput, OperationOutput, ParamLocation, add_parameters};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response as HttpResponse};
use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, json_schema};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::authz::{Operation as Declared, Rule};
use crate::error::Path;
use crate::{AppError, Caller, ClientIp};

/// A JSON request body of type `T`. Malformed JSON or a wrong field is a
/// 400 whose message names the place in both languages.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = HttpResponse;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        crate::api::json_body(&body)
            .map(JsonBody)
            .map_err(IntoResponse::into_response)
    }
}

impl<T: JsonSchema> OperationInput for JsonBody<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        let schema = ctx.schema.subschema_for::<T>();
        operation.request_body = Some(aide::openapi::ReferenceOr::Item(RequestBody {
            content: IndexMap::from_iter([("application/json".to_string(), media(schema))]),
            required: true,
            ..Default::default()
        }));
    }
}

/// The query string as text fields, documented by the struct `T` (its
/// fields are the parameters, its doc comments their descriptions). The
/// handler reads the fields with `api::param` and friends, which name a
/// bad one in both languages; `T` is never built.
pub struct QueryOf<T>(pub HashMap<String, String>, pub PhantomData<T>);

impl<S: Send + Sync, T> FromRequestParts<S> for QueryOf<T> {
    type Rejection = HttpResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(q) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                AppError::bad_request(
                    format!("the query string is not valid: {}", e.body_text()),
                    "网址中的查询参数无效",
                )
                .into_response()
            })?;
        Ok(QueryOf(q, PhantomData))
    }
}

impl<T: JsonSchema> OperationInput for QueryOf<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        let schema = ctx.schema.subschema_for::<T>();
        let params = aide::operation::parameters_from_schema(ctx, schema, ParamLocation::Query);
        add_parameters(ctx, operation, params);
    }
}

/// The one path parameter of a route (`{id}`, `{what}`): documented under
/// the route's own name for it (see [`finish`]).
impl<T: JsonSchema> OperationInput for Path<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        let schema = ctx.schema.subschema_for::<T>();
        add_parameters(
            ctx,
            operation,
            [Parameter::Path {
                parameter_data: ParameterData {
                    name: String::new(),
                    description: None,
                    required: true,
                    deprecated: None,
                    format: ParameterSchemaOrContent::Schema(SchemaObject {
                        json_schema: schema,
                        external_docs: None,
                        example: None,
                    }),
                    example: None,
                    examples: IndexMap::new(),
                    explode: None,
                    extensions: IndexMap::new(),
                },
                style: PathStyle::default(),
            }],
        );
    }
}

// Who calls is a matter of the security scheme, not of the operation's inputs.
impl OperationInput for Caller {}
impl OperationInput for ClientIp {}
impl OperationInput for WholeTree {}

/// A caller whose area is the whole tree (settings, accounts): checked
/// before the body is read, so anyone else is refused as before, whatever
/// they send.
pub struct WholeTree(pub Caller);

impl FromRequestParts<crate::AppState> for WholeTree {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        crate::api::require_everything(&caller)?;
        Ok(WholeTree(caller))
    }
}

/// What kind of file a body or an answer is: its media types.
pub trait FileKind {
    const MEDIA_TYPES: &'static [&'static str];
    const DESCRIPTION: &'static str;
    /// Whether a request must carry the body.
    const REQUIRED: bool = true;
    /// The schema of the body in one of the media types.
    fn schema(_media_type: &str) -> Schema {
        json_schema!({"type": "string", "format": "binary"})
    }
}

/// A JSON document read by its own parser (the category tree, the
/// calendar), which names what is wrong in both languages.
pub struct JsonDocument;
impl FileKind for JsonDocument {
    const MEDIA_TYPES: &'static [&'static str] = &["application/json"];
    const DESCRIPTION: &'static str = "The JSON document";
    fn schema(_: &str) -> Schema {
        json_schema!({"type": "object"})
    }
}

/// A 12345 batch: a JSON array of requests, or the platform's table.
pub struct HotlineBatch;
impl FileKind for HotlineBatch {
    const MEDIA_TYPES: &'static [&'static str] = &[
        "application/json",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel",
    ];
    const DESCRIPTION: &'static str = "A JSON array of requests (the fields of POST /cases), or the 12345 platform's export (CSV in UTF-8 or GBK, xlsx, xls) with its Chinese headers";
    fn schema(media_type: &str) -> Schema {
        if media_type == "application/json" {
            json_schema!({"type": "array", "items": {"type": "object"}})
        } else {
            json_schema!({"type": "string", "format": "binary"})
        }
    }
}

/// Which notification to mark read: `{"id": n}`, or no body for all.
pub struct ReadMark;
impl FileKind for ReadMark {
    const MEDIA_TYPES: &'static [&'static str] = &["application/json"];
    const DESCRIPTION: &'static str = "{\"id\": n} marks one notification read; no body marks all";
    const REQUIRED: bool = false;
    fn schema(_: &str) -> Schema {
        json_schema!({"type": "object", "properties": {"id": {"type": "integer", "format": "int64"}}})
    }
}

/// A spreadsheet ledger: CSV (UTF-8, UTF-16 or GBK), TSV, xlsx or xls.
pub struct Spreadsheet;
impl FileKind for Spreadsheet {
    const MEDIA_TYPES: &'static [&'static str] = &[
        "text/csv",
        "text/tab-separated-values",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel",
        "application/octet-stream",
    ];
    const DESCRIPTION: &'static str = "The spreadsheet file itself (CSV in UTF-8, UTF-16 or GBK; TSV; xlsx; xls). Title rows, a two-row merged header and Chinese column names are understood.";
}

/// A table as written by an export: CSV or xlsx.
pub struct Table;
impl FileKind for Table {
    const MEDIA_TYPES: &'static [&'static str] = &[
        "text/csv; charset=utf-8",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ];
    const DESCRIPTION: &'static str = "The table, streamed as it is written";
}

/// A GeoJSON FeatureCollection.
pub struct GeoJson;
impl FileKind for GeoJson {
    const MEDIA_TYPES: &'static [&'static str] = &["application/geo+json"];
    const DESCRIPTION: &'static str = "A GeoJSON FeatureCollection";
    fn schema(_: &str) -> Schema {
        json_schema!({"type": "object", "required": ["type", "features"], "properties": {"type": {"const": "FeatureCollection"}, "features": {"type": "array"}}})
    }
}

/// A photo: JPEG, PNG or WebP, known by its bytes.
pub struct Image;
impl FileKind for Image {
    const MEDIA_TYPES: &'static [&'static str] = &["image/jpeg", "image/png", "image/webp"];
    const DESCRIPTION: &'static str = "The image (JPEG, PNG or WebP)";
}

/// A request body that is a file of kind `K`, taken as it comes.
pub struct Upload<K>(pub Bytes, pub PhantomData<K>);

impl<S: Send + Sync, K> FromRequest<S> for Upload<K> {
    type Rejection = HttpResponse;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Upload(body, PhantomData))
    }
}

impl<K: FileKind> OperationInput for Upload<K> {
    fn operation_input(_: &mut GenContext, operation: &mut Operation) {
        operation.request_body = Some(aide::openapi::ReferenceOr::Item(RequestBody {
            description: Some(K::DESCRIPTION.to_string()),
            content: file_content::<K>(),
            required: K::REQUIRED,
            ..Default::default()
        }));
    }
}

/// An answer that is a file of kind `K` (headers set by the handler).
pub struct File<K>(pub HttpResponse, PhantomData<K>);

impl<K> File<K> {
    pub fn new(r: HttpResponse) -> File<K> {
        File(r, PhantomData)
    }
}

impl<K> IntoResponse for File<K> {
    fn into_response(self) -> HttpResponse {
        self.0
    }
}

impl<K: FileKind> OperationOutput for File<K> {
    type Inner = Self;

    fn inferred_responses(_: &mut GenContext, _: &mut Operation) -> Vec<(Option<u16>, Response)> {
        vec![(
            Some(200),
            Response {
                description: K::DESCRIPTION.to_string(),
                content: file_content::<K>(),
                ..Default::default()
            },
        )]
    }
}

/// A JSON answer of type `T` that also sets or clears the session cookie.
pub struct JsonWithCookie<T>(pub HttpResponse, PhantomData<T>);

impl<T> JsonWithCookie<T> {
    pub fn new(r: HttpResponse) -> JsonWithCookie<T> {
        JsonWithCookie(r, PhantomData)
    }
}

impl<T> IntoResponse for JsonWithCookie<T> {
    fn into_response(self) -> HttpResponse {
        self.0
    }
}

impl<T: JsonSchema> OperationOutput for JsonWithCookie<T> {
    type Inner = T;

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, Response)> {
        <axum::Json<T> as OperationOutput>::inferred_responses(ctx, operation)
    }
}

/// The body of every refusal.
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used; AppError writes the JSON
struct ErrorBody {
    /// A stable code: not_found, unauthorized, forbidden, invalid,
    /// invalid_rows, conflict, bad_request, locked, storage_full, internal.
    error: String,
    message: String,
    /// The same message in Chinese (简体中文), for Chinese pages and clients.
    message_zh: String,
    /// The field or parameter at fault (`invalid`).
    field: Option<String>,
    /// The rows at fault in a file (`invalid_rows`).
    rows: Option<Vec<RowErrorBody>>,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct RowErrorBody {
    row: u64,
    field: String,
    message: String,
    message_zh: String,
}

impl OperationOutput for AppError {
    type Inner = Self;

    fn inferred_responses(ctx: &mut GenContext, _: &mut Operation) -> Vec<(Option<u16>, Response)> {
        let schema = ctx.schema.subschema_for::<ErrorBody>();
        vec![(
            None,
            Response {
                description: "A refusal as {error, message, message_zh, field?, rows?}: 400 a malformed request, 401 not signed in, 403 not permitted, 404 not found or outside your area, 409 a conflict (stale version, step not allowed now, duplicate), 422 invalid input (names the field or the rows), 429 held back, 507 the disk is full".to_string(),
                content: IndexMap::from_iter([("application/json".to_string(), media(schema))]),
                ..Default::default()
            },
        )]
    }
}

fn media(json_schema: Schema) -> MediaType {
    MediaType {
        schema: Some(SchemaObject {
            json_schema,
            external_docs: None,
            example: None,
        }),
        ..Default::default()
    }
}

fn file_content<K: FileKind>() -> IndexMap<String, MediaType> {
    K::MEDIA_TYPES
        .iter()
        .map(|t| (t.to_string(), media(K::schema(t))))
        .collect()
}

/// The finished document: aide's paths, with what the route table knows
/// added: the summary and tag of each operation, its security (none for a
/// public one), and the route's names for its path parameters.
pub(crate) fn finish(api: aide::openapi::OpenApi, declared: &[Declared]) -> Value {
    let mut doc = serde_json::to_value(&api).unwrap_or_else(|e| {
        tracing::error!("the API document cannot be written: {e}");
        Value::Null
    });
    doc["openapi"] = json!("3.1.0");
    doc["info"] = json!({
        "title": "linli 邻里 API",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Community governance: the registry (网格 grids, people, compounds), the closed loop of requests (诉求) and cases (工单), rates, accounts. Every answer is limited to the caller's part of the org tree. Errors carry their message in English and Chinese (message_zh).",
    });
    doc["servers"] = json!([{"url": "/api/v1"}]);
    doc["security"] = json!([{"bearer": []}]);
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer", "description": "An account's session token (POST /login) or the district administrator's token"},
    });
    for d in declared {
        let method = d.method.as_str().to_lowercase();
        // (`doc[..]` would insert a null for an undocumented path.)
        let Some(op) = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(d.path))
            .and_then(|p| p.get_mut(&method))
        else {
            continue;
        };
        op["summary"] = json!(d.summary);
        op["tags"] = json!([d.tag]);
        if d.rule == Rule::Public {
            op["security"] = json!([]);
        }
        let names = path_names(d.path);
        if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            let mut names = names.iter();
            for p in params.iter_mut().filter(|p| p["in"] == "path") {
                if let Some(n) = names.next() {
                    p["name"] = json!(n);
                }
            }
        }
    }
    doc
}

/// The names of a route's path parameters, in order (`/cases/{id}` → id).
fn path_names(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// The document as served, built once.
pub(crate) fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let (api, declared) = crate::api::api().into_document();
        serde_json::to_string(&finish(api, &declared)).unwrap_or_else(|e| {
            tracing::error!("the API document cannot be written: {e}");
            String::new()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_names_are_read_in_order() {
        assert_eq!(path_names("/cases/{id}/photos"), vec!["id"]);
        assert_eq!(path_names("/a/{x}/b/{y}"), vec!["x", "y"]);
        assert!(path_names("/cases").is_empty());
    }
}
