//! JSON API under /api/v1. Every handler takes a [`Caller`] and passes its
//! scope to the store.

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use linli_core::ids::{OrgId, StaffId};
use linli_core::ledger::LedgerKind;
use linli_core::org::OrgKind;
use linli_core::registry::Tag;
use linli_store::Msg;
use linli_store::audit::{AuditEntry, Verification};
use linli_store::import::ImportReport;
use linli_store::import::{ImportOptions, TableFormat, parse_ledger};
use linli_store::org::{GridHit, OrgUnit, PostView, ScopeStats};
use linli_store::registry::PeopleFilter;
use linli_store::registry::{Compound, PersonFull, PersonView};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use linli_core::access::Permission;

use crate::authz::{Api, Rule};
use crate::doc::{File, GeoJson, JsonBody, QueryOf, Spreadsheet, Table, Upload, WholeTree};
use crate::error::Path;
use crate::{AppError, AppState, Caller};
use schemars::JsonSchema;

/// An optional query parameter, parsed; a bad value names the parameter.
pub(crate) fn param<T: FromStr>(
    q: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, AppError> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        // The parse error of a generic T says nothing more than this.
        Some(v) => match v.parse() {
            Ok(x) => Ok(Some(x)),
            Err(_) => Err(AppError::invalid(
                name,
                format!("'{v}' is not a valid value"),
                format!("“{v}”不是有效的值"),
            )),
        },
    }
}

/// An optional time parameter: milliseconds since 1970, or a date
/// (2026-12-08, midnight in Beijing); a bad value names both forms.
pub(crate) fn time_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, AppError> {
    let Some(v) = q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(ms));
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc().timestamp_millis() - 8 * 3_600_000))
        .ok_or_else(|| {
            AppError::invalid(
                name,
                format!("'{v}' is neither milliseconds since 1970 nor a date such as 2026-12-08"),
                format!("“{v}”既不是毫秒时间戳，也不是形如 2026-12-08 的日期"),
            )
        })
}

fn required<T: FromStr>(q: &HashMap<String, String>, name: &str) -> Result<T, AppError> {
    param(q, name)?.ok_or_else(|| AppError::invalid_msg(name, Msg::required()))
}

/// Every operation under /api/v1 with the permission it needs. A
/// capability adds its own `api()` here with `merge`.
pub fn api() -> Api {
    use Permission::*;
    use Rule::*;
    Api::new("registry")
        .get("/stats", Needs(ReadOrg), stats)
        .about("Counts of grids, compounds, dwellings, households, people in your area")
        .get("/org", Needs(ReadOrg), org_list)
        .about("Org units in your area")
        .get("/org/{id}", Needs(ReadOrg), org_one)
        .about("One org unit with ancestors and counts")
        .get("/org/{id}/children", Needs(ReadOrg), org_children)
        .about("Direct children")
        .get("/grids.geojson", Needs(ReadOrg), grids_geojson)
        .about("Grid polygons as a GeoJSON FeatureCollection")
        .get("/locate", Needs(ReadOrg), locate)
        .about("The grid holding a point, with its posts")
        .post("/locate/batch", Needs(ReadOrg), locate_batch)
        .about("Batch point-in-grid: the grid of each point, in order (null: in no grid of your area)")
        .get("/posts", Needs(ReadOrg), posts)
        .about("Posts (格内定岗)")
        .post("/posts", Needs(WriteRegistry), create_post)
        .about("Put a staff member on a post")
        .post("/staff", Needs(WriteRegistry), create_staff)
        .about("Register a staff member")
        .get("/people", Needs(ReadRegistry), people)
        .about("People in your area, masked")
        .get("/people/{id}", Needs(ReadRegistry), person)
        .about("One person, masked")
        .put("/people/{id}", Needs(WriteRegistry), edit_person)
        .about("Edit a person's phone, relations and tags (audited; the phone is sealed, masked and indexed)")
        .post("/people/lookup", Needs(Unmask), lookup_people)
        .about("Counter look-up of people by ID number or mobile, the number in the body (audited, throttled; needs the right to view personal data in full)")
        .post("/people/{id}/unmask", Needs(Unmask), person_unmask)
        .about("ID number and phone in clear; audited")
        .get("/compounds", Needs(ReadRegistry), compounds)
        .about("Compound ledger (一院一档)")
        .get("/tags", Needs(ReadRegistry), tags)
        .about("Tags: the built-in ones ({code, label}) and the district's own list")
        .put("/tags", Needs(ManageSettings), replace_tags)
        .about("Replace the district's own tag list (whole-tree callers; each tag checked; audited)")
        .post("/import/registry", Needs(WriteRegistry), import_registry)
        .about("Import a registry ledger as communities keep it; all or nothing; dry_run previews")
        .post("/import/compounds", Needs(WriteRegistry), import_compounds)
        .about("Import the compound ledger")
        .post("/import/grids", Needs(WriteRegistry), import_grids)
        .about("Import grid polygons (GeoJSON)")
        .get("/export/{what}", Needs(Export), export)
        .about("registry.xlsx|registry.csv|compounds.xlsx|compounds.csv|cases.xlsx|cases.csv (cases take the filters of GET /cases; personal data masked unless ?unmasked=1&reason=… for the registry, which needs the unmask permission and is audited)")
        .get("/audit", Needs(ReadAudit), audit)
        .about("Newest audit entries (whole-tree callers)")
        .get("/audit/verify", Needs(ReadAudit), audit_verify)
        .about("Walk the hash chain")
        .undocumented_get("/openapi.json", Public, openapi)
        .merge(crate::cases_api::api())
        .merge(crate::accounts_api::api())
}

/// The API as served: every route behind the authorisation layer, bodies
/// up to 64 MiB (spreadsheets), answers never cached.
pub fn routes(state: AppState) -> Router<AppState> {
    api()
        .into_router(state)
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(axum::middleware::map_response(no_store))
}

/// API answers hold personal data (masked or, after an audited unmask, in
/// full): no cache keeps them, unless a handler said otherwise.
async fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// The OpenAPI document of this API (public: it holds no data).
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::doc::document(),
    )
        .into_response()
}

async fn stats(State(s): State<AppState>, caller: Caller) -> Result<Json<ScopeStats>, AppError> {
    Ok(Json(s.store.scope_stats(&caller.scope).await?))
}

async fn org_list(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<OrgListQuery>,
) -> Result<Json<Vec<OrgUnit>>, AppError> {
    let kind = match q.get("kind").filter(|k| !k.is_empty()) {
        Some(k) => Some(OrgKind::parse(k).map_err(|e| AppError::invalid_msg("kind", e))?),
        None => None,
    };
    Ok(Json(s.store.org_units(&caller.scope, kind).await?))
}

async fn org_one(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<OrgOut>, AppError> {
    let unit = s.store.org_unit(&caller.scope, id).await?;
    let ancestors = s.store.org_ancestors(&caller.scope, id).await?;
    let stats = s.store.scope_stats(&unit.scope()?).await?;
    Ok(Json(OrgOut {
        unit,
        ancestors,
        stats,
    }))
}

/// An org unit with the units above it and what lies in it.
#[derive(Serialize, JsonSchema)]
struct OrgOut {
    unit: OrgUnit,
    /// From the top of the tree down to the unit's parent.
    ancestors: Vec<OrgUnit>,
    stats: ScopeStats,
}

async fn org_children(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<OrgUnit>>, AppError> {
    Ok(Json(s.store.org_children(&caller.scope, id).await?))
}

async fn grids_geojson(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<File<GeoJson>, AppError> {
    Ok(File::new(
        grids_feature_collection(&s.store, &caller.scope).await?,
    ))
}

/// The grids of a scope as a GeoJSON FeatureCollection (id, code, name).
pub(crate) async fn grids_feature_collection(
    store: &linli_store::Store,
    scope: &linli_store::Scope,
) -> Result<Response, AppError> {
    let mut features = Vec::new();
    for g in store.grid_shapes(scope).await? {
        let geometry: Value = serde_json::from_str(&g.geometry).unwrap_or(Value::Null);
        features.push(json!({
            "type": "Feature",
            "id": g.id,
            "properties": {"id": g.id, "code": g.code, "name": g.name},
            "geometry": geometry,
        }));
    }
    let body = json!({"type": "FeatureCollection", "features": features});
    let mut r = Json(body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    Ok(r)
}

async fn locate(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<LocateQuery>,
) -> Result<Json<LocateOut>, AppError> {
    let lon: f64 = required(&q, "lon")?;
    let lat: f64 = required(&q, "lat")?;
    let grid = s.store.locate_grid(&caller.scope, lon, lat).await?;
    let posts = match &grid {
        Some(g) => s.store.posts(&caller.scope, Some(g.id), None).await?,
        None => Vec::new(),
    };
    Ok(Json(LocateOut { grid, posts }))
}

/// The grid holding a point (none: in no grid of your area) and its posts.
#[derive(Serialize, JsonSchema)]
struct LocateOut {
    grid: Option<OrgUnit>,
    posts: Vec<PostView>,
}

/// Most points one batch look-up takes.
const MAX_BATCH_POINTS: usize = 200_000;

#[derive(Deserialize, JsonSchema)]
struct PointBatch {
    /// [longitude, latitude] pairs.
    points: Vec<[f64; 2]>,
}

/// Batch point-in-grid: `{"points": [[lon, lat], …]}` → the grid of each
/// point in order (`null`: in no grid of the caller's area).
async fn locate_batch(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(batch): JsonBody<PointBatch>,
) -> Result<Json<BatchOut>, AppError> {
    if batch.points.len() > MAX_BATCH_POINTS {
        return Err(AppError::invalid(
            "points",
            format!(
                "{} points: at most {MAX_BATCH_POINTS} in one request",
                batch.points.len()
            ),
            format!(
                "一次最多{MAX_BATCH_POINTS}个点（现有{}个）",
                batch.points.len()
            ),
        ));
    }
    let points = batch.points.into_iter().map(|[x, y]| (x, y)).collect();
    let grids = s.store.locate_grids(&caller.scope, points).await?;
    let located = grids.iter().filter(|g| g.is_some()).count();
    Ok(Json(BatchOut { located, grids }))
}

#[derive(Serialize, JsonSchema)]
struct BatchOut {
    /// How many points lie in a grid of your area.
    located: usize,
    /// The grid of each point, in the order given (null: none).
    grids: Vec<Option<GridHit>>,
}

async fn posts(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<PostsQuery>,
) -> Result<Json<Vec<PostView>>, AppError> {
    let grid = param(&q, "grid_id")?;
    let staff = param(&q, "staff_id")?;
    Ok(Json(s.store.posts(&caller.scope, grid, staff).await?))
}

#[derive(Deserialize, JsonSchema)]
struct NewStaff {
    org_id: i64,
    name: String,
    phone: Option<String>,
}

/// Registers a staff member at an org unit in the caller's scope.
async fn create_staff(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewStaff>,
) -> Result<Json<Created>, AppError> {
    let id = s
        .store
        .create_staff(&caller.scope, b.org_id, &b.name, b.phone.as_deref())
        .await?;
    Ok(Json(Created { id: id.into() }))
}

#[derive(Deserialize, JsonSchema)]
struct NewPost {
    grid_id: OrgId,
    staff_id: StaffId,
    title: String,
}

/// Puts a staff member on a post in a grid (格内定岗、岗上定责).
async fn create_post(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewPost>,
) -> Result<Json<Created>, AppError> {
    let id = s
        .store
        .assign_post(&caller.scope, b.grid_id, b.staff_id, &b.title)
        .await?;
    Ok(Json(Created { id }))
}

/// The `tag` filter of a people list, if given: a built-in tag (by code
/// or label), or one of the district's own tags.
pub(crate) async fn tag_param(
    s: &AppState,
    q: &HashMap<String, String>,
) -> Result<(Option<Tag>, Option<String>), AppError> {
    let Some(t) = q.get("tag").map(|t| t.trim()).filter(|t| !t.is_empty()) else {
        return Ok((None, None));
    };
    match Tag::parse(t) {
        Ok(tag) => Ok((Some(tag), None)),
        Err(e) => {
            if s.store.district_tags().await?.iter().any(|d| d == t) {
                Ok((None, Some(t.to_string())))
            } else {
                Err(AppError::invalid(
                    "tag",
                    format!(
                        "{} (nor one of the district's tags: GET /api/v1/tags)",
                        e.en
                    ),
                    format!("{}（也不是本区的自定义类别）", e.zh),
                ))
            }
        }
    }
}

async fn tags(State(s): State<AppState>) -> Result<Json<TagsOut>, AppError> {
    let builtin = Tag::ALL
        .iter()
        .map(|t| TagOut {
            code: t.code(),
            label: t.label_zh(),
        })
        .collect();
    Ok(Json(TagsOut {
        builtin,
        district: s.store.district_tags().await?,
    }))
}

/// The people's categories (人员类别): the built-in ones and the district's own.
#[derive(Serialize, JsonSchema)]
struct TagsOut {
    builtin: Vec<TagOut>,
    district: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
struct TagOut {
    code: &'static str,
    label: &'static str,
}

/// What a create answers: the new row's id.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Created {
    pub(crate) id: i64,
}

async fn replace_tags(
    State(s): State<AppState>,
    WholeTree(caller): WholeTree,
    JsonBody(list): JsonBody<Vec<String>>,
) -> Result<Json<TagsOut>, AppError> {
    s.store.save_district_tags(&caller.actor, &list).await?;
    tags(State(s)).await
}

/// Parses a JSON body; a bad body is a 400 that says what was expected,
/// in Chinese too.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| {
        AppError::bad_request(
            format!("request body: {e}"),
            format!("请求内容有误：{}", json_error_zh(&e)),
        )
    })
}

/// serde_json's message in Chinese: the field it names kept as written.
fn json_error_zh(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("（第{}行第{}列）", e.line(), e.column());
    let text = e.to_string();
    // The message without serde's " at line N column M".
    let what = text.split(" at line ").next().unwrap_or(&text);
    let named = |prefix: &str| {
        what.strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    let kind = |words: &str| {
        let w = words.trim();
        let zh = [
            ("a string", "字符串"),
            ("string", "字符串"),
            ("sequence", "数组"),
            ("a sequence", "数组"),
            ("map", "对象"),
            ("a map", "对象"),
            ("struct", "对象"),
            ("boolean", "布尔值"),
            ("a boolean", "布尔值"),
            ("null", "空值"),
            ("unit value", "空值"),
            ("floating point", "数字"),
            ("integer", "整数"),
            ("i64", "整数"),
            ("i32", "整数"),
            ("u32", "非负整数"),
            ("u64", "非负整数"),
            ("f64", "数字"),
        ];
        zh.iter()
            .find(|(en, _)| w == *en || w.starts_with(&format!("{en} ")))
            .map_or_else(|| w.to_string(), |(_, z)| (*z).to_string())
    };
    match e.classify() {
        Category::Eof => format!("内容不完整，JSON 没有结束{at}"),
        Category::Syntax | Category::Io => format!("不是有效的 JSON{at}"),
        Category::Data => {
            if let Some(f) = named("missing field `") {
                format!("缺少字段“{f}”{at}")
            } else if let Some(f) = named("unknown field `") {
                format!("没有字段“{f}”{at}")
            } else if let Some(rest) = what.strip_prefix("invalid type: ") {
                match rest.split_once(", expected ") {
                    Some((got, want)) => {
                        format!("值的类型不对：应为{}，实为{}{at}", kind(want), kind(got))
                    }
                    None => format!("值的类型不对{at}"),
                }
            } else if what.starts_with("invalid value") || what.starts_with("invalid length") {
                format!("值无效{at}")
            } else {
                format!("内容与要求的格式不符{at}")
            }
        }
    }
}

async fn people(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<PeopleQuery>,
) -> Result<Json<Vec<PersonView>>, AppError> {
    let (tag, district_tag) = tag_param(&s, &q).await?;
    let id_number = q.get("id_number").filter(|v| !v.is_empty());
    let phone = q.get("phone").filter(|v| !v.is_empty());
    if id_number.is_some() || phone.is_some() {
        admit_lookup(&s, &caller)?;
    }
    if let Some(id) = id_number {
        return Ok(Json(
            s.store
                .find_by_id_number(&caller.scope, id, &caller.actor)
                .await?,
        ));
    }
    if let Some(phone) = phone {
        return Ok(Json(
            s.store
                .find_by_phone(&caller.scope, phone, &caller.actor)
                .await?,
        ));
    }
    let f = PeopleFilter {
        grid_id: param(&q, "grid_id")?,
        tag,
        district_tag,
        name_contains: q.get("name").cloned(),
        limit: param(&q, "limit")?.unwrap_or(50),
        offset: param(&q, "offset")?.unwrap_or(0),
        after_id: param(&q, "after")?,
    };
    Ok(Json(s.store.people(&caller.scope, &f).await?))
}

/// A counter look-up with the number in the body (`{"id_number"}` or
/// `{"phone"}`), so that it stays out of URLs and access logs; the query
/// parameters of `GET people` do the same and are kept for old clients.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LookupBody {
    id_number: Option<String>,
    phone: Option<String>,
}

async fn lookup_people(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<LookupBody>,
) -> Result<Json<Vec<PersonView>>, AppError> {
    let found = match (
        b.id_number.filter(|x| !x.trim().is_empty()),
        b.phone.filter(|x| !x.trim().is_empty()),
    ) {
        (Some(id), None) => {
            admit_lookup(&s, &caller)?;
            s.store
                .find_by_id_number(&caller.scope, &id, &caller.actor)
                .await?
        }
        (None, Some(phone)) => {
            admit_lookup(&s, &caller)?;
            s.store
                .find_by_phone(&caller.scope, &phone, &caller.actor)
                .await?
        }
        _ => {
            return Err(AppError::invalid(
                "id_number",
                "give one of id_number or phone",
                "请给出身份证号或手机号（二选一）",
            ));
        }
    };
    Ok(Json(found))
}

/// A look-up by ID number or phone confirms or denies a guess: only those
/// who may unmask may make one, one value at a time, a limited number per
/// account (each audited by the store).
pub(crate) fn admit_lookup(s: &AppState, caller: &Caller) -> Result<(), AppError> {
    if !linli_core::access::allows(caller.role, Permission::Unmask) {
        return Err(AppError::forbidden(
            "looking people up by ID number or phone needs the right to view personal data in full",
            "按身份证号或电话查人须有查看完整个人信息的权限",
        ));
    }
    let now = chrono::Utc::now().timestamp_millis();
    Ok(crate::throttle::take_lookup(
        &s.lookup_throttle,
        &caller.actor,
        now,
        (
            "too many look-ups by ID number or phone",
            "按身份证号或电话查询次数过多",
        ),
    )?)
}

async fn person(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<PersonView>, AppError> {
    Ok(Json(s.store.person(&caller.scope, id).await?))
}

/// A person's record as a worker keeps it: phone, relations, tags.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PersonEditBody {
    phone: Option<String>,
    #[serde(default)]
    clear_phone: bool,
    relation: Option<String>,
    head_relation: Option<String>,
    tags: Option<Vec<String>>,
}

async fn edit_person(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<PersonEditBody>,
) -> Result<Json<PersonView>, AppError> {
    let edit = linli_store::registry_edit::PersonEdit {
        phone: b.phone,
        clear_phone: b.clear_phone,
        relation: b.relation,
        head_relation: b.head_relation,
        tags: b.tags,
    };
    Ok(Json(
        s.store
            .edit_person(&caller.scope, &caller.actor, id, &edit)
            .await?,
    ))
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct UnmaskBody {
    pub(crate) reason: Option<String>,
}

async fn person_unmask(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<UnmaskBody>,
) -> Result<Json<PersonFull>, AppError> {
    let full = s
        .store
        .person_unmasked(
            &caller.scope,
            id,
            &caller.actor,
            b.reason.as_deref().unwrap_or(""),
        )
        .await?;
    Ok(Json(full))
}

async fn compounds(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<CompoundsQuery>,
) -> Result<Json<Vec<Compound>>, AppError> {
    Ok(Json(
        s.store
            .compounds(&caller.scope, param(&q, "grid_id")?)
            .await?,
    ))
}

/// The table format of an upload, from `?format=` or the Content-Type.
fn upload_format(
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Option<TableFormat>, AppError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Without a format or a telling Content-Type, the file's first bytes
    // decide (a workbook is a ZIP or OLE file).
    match q.get("format").map(String::as_str) {
        Some("csv" | "tsv") => Ok(Some(TableFormat::Csv)),
        Some("xlsx" | "xls") => Ok(Some(TableFormat::Xlsx)),
        Some(other) => Err(AppError::invalid(
            "format",
            format!("'{other}' is not csv, tsv, xlsx or xls"),
            format!("“{other}”不是 csv、tsv、xlsx 或 xls"),
        )),
        None if ct.starts_with("text/") => Ok(Some(TableFormat::Csv)),
        None if ct.contains("spreadsheetml") || ct.contains("ms-excel") => {
            Ok(Some(TableFormat::Xlsx))
        }
        None => Ok(None),
    }
}

fn report_response(r: ImportReport) -> Result<Json<ImportReport>, AppError> {
    if r.committed || (r.dry_run && r.errors.is_empty()) {
        Ok(Json(r))
    } else {
        Err(AppError::Rows(r.errors))
    }
}

async fn import_registry(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<ImportRegistryQuery>,
    headers: HeaderMap,
    Upload(body, _): Upload<Spreadsheet>,
) -> Result<Json<ImportReport>, AppError> {
    let format = upload_format(&q, &headers)?.unwrap_or_else(|| TableFormat::sniff(&body));
    let table = parse_ledger(body, format, LedgerKind::Registry, q.get("sheet").cloned()).await?;
    let options = ImportOptions {
        dry_run: matches!(q.get("dry_run").map(String::as_str), Some("1" | "true")),
        grid: q.get("grid").cloned(),
    };
    crate::throttle::admit_registry_import(&s, &caller, options.dry_run, &table)?;
    report_response(
        s.store
            .import_registry_with(&caller.scope, &caller.actor, &table, &options, &|_, _| {})
            .await?,
    )
}

async fn import_compounds(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<ImportCompoundsQuery>,
    headers: HeaderMap,
    Upload(body, _): Upload<Spreadsheet>,
) -> Result<Json<ImportReport>, AppError> {
    let format = upload_format(&q, &headers)?.unwrap_or_else(|| TableFormat::sniff(&body));
    let table = parse_ledger(body, format, LedgerKind::Compounds, q.get("sheet").cloned()).await?;
    report_response(
        s.store
            .import_compounds(&caller.scope, &caller.actor, &table)
            .await?,
    )
}

async fn import_grids(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<ImportGridsQuery>,
    Upload(body, _): Upload<GeoJson>,
) -> Result<Json<ImportReport>, AppError> {
    let text = utf8_body(&body, "GeoJSON")?;
    let tolerance: f64 = param(&q, "overlap_tolerance_m2")?
        .unwrap_or(linli_store::import::DEFAULT_OVERLAP_TOLERANCE_M2);
    report_response(
        s.store
            .import_grids_with(&caller.scope, &caller.actor, text, tolerance)
            .await?,
    )
}

/// GET /export/registry.xlsx, registry.csv, compounds.xlsx, compounds.csv,
/// cases.xlsx, cases.csv (with the filters of GET /cases).
/// `?unmasked=1&reason=...` exports ID numbers and phones in clear (audited).
async fn export(
    State(s): State<AppState>,
    caller: Caller,
    method: axum::http::Method,
    Path(what): Path<String>,
    QueryOf(q, _): QueryOf<ExportQuery>,
) -> Result<File<Table>, AppError> {
    // A HEAD would run the export (and write an unmasked one's audit
    // entry) only to throw the rows away.
    if method == axum::http::Method::HEAD {
        return Ok(File::new(
            (
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "GET")],
            )
                .into_response(),
        ));
    }
    let (name, ext) = what
        .rsplit_once('.')
        .ok_or_else(|| AppError::NotFound(format!("no export '{what}'")))?;
    let format = match ext {
        "csv" => TableFormat::Csv,
        "xlsx" => TableFormat::Xlsx,
        _ => return Err(AppError::NotFound(format!("no export '{what}'"))),
    };
    let unmasked = param::<u8>(&q, "unmasked")?.unwrap_or(0) == 1;
    if unmasked && !linli_core::access::allows(caller.role, linli_core::access::Permission::Unmask)
    {
        return Err(AppError::forbidden(
            format!("a {} may export masked data only", caller.role.code()),
            format!("{}只能导出脱敏数据", caller.role.label_zh()),
        ));
    }
    let reason = q.get("reason").cloned().unwrap_or_default();
    let stream = match name {
        "registry" => {
            let u = unmasked.then_some((caller.actor.as_str(), reason.as_str()));
            // The registry page's filters: a grid narrows the scope.
            let scope = match param::<i64>(&q, "grid_id")? {
                Some(g) => s.store.org_unit(&caller.scope, g).await?.scope()?,
                None => caller.scope.clone(),
            };
            let (tag, district_tag) = tag_param(&s, &q).await?;
            let only = linli_store::export::RegistryOnly {
                tag: tag.map(|t| t.code().to_string()).or(district_tag),
                name: q.get("name").cloned(),
            };
            s.store.stream_registry_of(&scope, format, u, &only).await?
        }
        "compounds" => s.store.stream_compounds(&caller.scope, format),
        "cases" => {
            let f = crate::cases_api::case_filter(&q)?;
            s.store.stream_cases(&caller.scope, &f, format)
        }
        _ => return Err(AppError::NotFound(format!("no export '{what}'"))),
    };
    let ct = match format {
        TableFormat::Csv => "text/csv; charset=utf-8",
        TableFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    };
    let disposition = format!("attachment; filename=\"{name}.{ext}\"");
    // Sent as it is written; a closed download drops the stream, which
    // stops the writer and the reads behind it.
    let body = axum::body::Body::from_stream(futures_util::stream::unfold(
        stream.chunks,
        |mut chunks| async move { chunks.recv().await.map(|c| (c, chunks)) },
    ));
    Ok(File::new(
        (
            [
                (header::CONTENT_TYPE, ct.to_string()),
                (header::CONTENT_DISPOSITION, disposition),
                // Personal data (masked or not): never kept by a cache.
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            body,
        )
            .into_response(),
    ))
}

async fn audit(
    State(s): State<AppState>,
    caller: Caller,
    QueryOf(q, _): QueryOf<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, AppError> {
    require_everything(&caller)?;
    let limit = param(&q, "limit")?.unwrap_or(100i64).clamp(1, 1000);
    Ok(Json(s.store.audit_entries(limit).await?))
}

async fn audit_verify(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Verification>, AppError> {
    require_everything(&caller)?;
    Ok(Json(s.verify_audit().await?))
}

/// A request body as UTF-8 text; `what` names it in the error.
pub(crate) fn utf8_body<'a>(body: &'a [u8], what: &str) -> Result<&'a str, AppError> {
    std::str::from_utf8(body).map_err(|e| {
        AppError::bad_request(
            format!("{what} must be UTF-8 ({e})"),
            format!("{what} 须为UTF-8编码"),
        )
    })
}

/// Settings and the audit log span every area, so only a whole-tree caller
/// reads or changes them.
pub(crate) fn require_everything(caller: &Caller) -> Result<(), AppError> {
    if caller.scope == linli_store::Scope::Everything {
        Ok(())
    } else {
        Err(AppError::NotFound("no such page".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        description: String,
        n: Option<i64>,
    }

    fn zh(body: &str) -> String {
        json_error_zh(&serde_json::from_str::<Body>(body).unwrap_err())
    }

    #[test]
    fn a_bad_body_is_explained_in_chinese() {
        assert_eq!(zh("{}"), "缺少字段“description”（第1行第2列）");
        assert_eq!(
            zh(r#"{"description":["x"]}"#),
            "值的类型不对：应为字符串，实为数组（第1行第15列）"
        );
        assert!(zh(r#"{"description":"x","m":1}"#).starts_with("没有字段“m”"));
        assert!(
            zh(r#"{"description":"x","n":"1"}"#).starts_with("值的类型不对：应为整数，实为字符串")
        );
        assert!(zh(r#"{"description":"#).starts_with("内容不完整"));
        assert!(zh("{description}").starts_with("不是有效的 JSON"));
    }
}

// The query strings, as the document shows them.

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct OrgListQuery {
    /// city|district|subdistrict|community|zone|grid
    kind: Option<String>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct LocateQuery {
    lon: f64,
    lat: f64,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct PostsQuery {
    grid_id: Option<i64>,
    staff_id: Option<i64>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct PeopleQuery {
    grid_id: Option<i64>,
    tag: Option<String>,
    name: Option<String>,
    id_number: Option<String>,
    phone: Option<String>,
    limit: Option<i64>,
    /// Rows to skip (at most 10,000; page on with `after` instead).
    #[schemars(range(min = 0, max = 10000))]
    offset: Option<i64>,
    /// Keyset paging: the people after this one in the list's order (by place, then id): the id of the last person of the previous page.
    after: Option<i64>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct CompoundsQuery {
    grid_id: Option<i64>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct ImportRegistryQuery {
    /// csv|tsv|xlsx|xls; without it the Content-Type or the file's first bytes decide. CSV may be UTF-8, UTF-16 or GBK, separated by commas, tabs or semicolons.
    #[schemars(extend("enum" = ["csv", "tsv", "xlsx", "xls"]))]
    format: Option<String>,
    /// The worksheet to read; default: the first whose header names at least two known columns. The header may sit under title rows and span two merged rows; column names are matched against a dictionary of the names ledgers use.
    sheet: Option<String>,
    /// Check and count everything (created, updated, unchanged; the column mapping, notices and every value changed) inside a transaction that is rolled back: nothing is written.
    dry_run: Option<bool>,
    /// The 15-digit code of the grid for every row that gives none.
    grid: Option<String>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct ImportCompoundsQuery {
    /// csv|tsv|xlsx|xls; without it the Content-Type or the file's first bytes decide. CSV may be UTF-8, UTF-16 or GBK, separated by commas, tabs or semicolons.
    #[schemars(extend("enum" = ["csv", "tsv", "xlsx", "xls"]))]
    format: Option<String>,
    /// The worksheet to read; default: the first whose header names at least two known columns. The header may sit under title rows and span two merged rows; column names are matched against a dictionary of the names ledgers use.
    sheet: Option<String>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct ExportQuery {
    /// The case list's filters (cases.*)
    #[serde(flatten)]
    cases: crate::cases_api::CaseListQuery,
    /// registry.*: only people with this tag
    tag: Option<String>,
    /// registry.*: only people whose name contains this
    name: Option<String>,
    /// 1 = in clear (audited)
    #[schemars(extend("enum" = [0, 1]))]
    unmasked: Option<u8>,
    reason: Option<String>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct AuditQuery {
    limit: Option<i64>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // documents the query; the handler reads it as text
pub(crate) struct ImportGridsQuery {
    /// How much two grids may overlap (square metres) before the file is refused
    overlap_tolerance_m2: Option<f64>,
}
