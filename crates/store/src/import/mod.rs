//! Bulk import of the registry (CSV or Excel) and of grid polygons (GeoJSON).
//!
//! Every import validates the whole file first. A file with any bad row
//! writes nothing and returns one error per bad field, naming the row
//! (as the spreadsheet numbers it, header = row 1) and the column. A good
//! file is written in one transaction.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::{Datelike, NaiveDate};
use linli_core::mask;
use linli_core::org::{GridCode, OrgKind};
use linli_core::registry::{self, ManagementMode, Relation, Tag};
use linli_core::validate::{self, Gender};
use serde::Serialize;

use crate::audit::append_in_tx;
use crate::db::BeginWrite;
use crate::db::now_ms;
use crate::org::{OrgUnit, insert_org_in_tx};
use crate::vault::Field;
use crate::{Result, Scope, Store, StoreError, with_db};

/// One problem in an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Row number as a spreadsheet shows it (the header is row 1); for
    /// GeoJSON, the feature number (from 1).
    pub row: usize,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}, {}: {}", self.row, self.field, self.message)
    }
}

/// What an import did, or why it did nothing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub committed: bool,
    pub errors: Vec<RowError>,
    pub created: HashMap<&'static str, u64>,
    pub updated: HashMap<&'static str, u64>,
}

impl ImportReport {
    fn refused(rows: usize, errors: Vec<RowError>) -> Self {
        ImportReport {
            rows,
            committed: false,
            errors,
            ..Default::default()
        }
    }
}

/// A table read from a file: headers and rows of text cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    /// (spreadsheet row number, cells)
    pub rows: Vec<(usize, Vec<String>)>,
}

/// File formats accepted for tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Xlsx,
}

impl TableFormat {
    pub fn from_path(path: &str) -> Result<Self> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Ok(TableFormat::Csv)
        } else if lower.ends_with(".xlsx") {
            Ok(TableFormat::Xlsx)
        } else {
            Err(StoreError::File(format!(
                "{path}: expected a .csv or .xlsx file"
            )))
        }
    }
}

/// [`read_table`] on the blocking pool: a 64 MiB workbook takes seconds
/// of CPU, which must not stall the server's other requests.
pub async fn parse_table(
    bytes: impl AsRef<[u8]> + Send + 'static,
    format: TableFormat,
) -> Result<Table> {
    crate::off_async(move || read_table(bytes.as_ref(), format)).await?
}

pub fn read_table(bytes: &[u8], format: TableFormat) -> Result<Table> {
    match format {
        TableFormat::Csv => read_csv(bytes),
        TableFormat::Xlsx => read_xlsx(bytes),
    }
}

/// Reads CSV (UTF-8, with or without BOM; comma separated).
pub fn read_csv(bytes: &[u8]) -> Result<Table> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers = rdr
        .headers()
        .map_err(|e| StoreError::File(format!("CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| StoreError::File(format!("row {}: {e}", i + 2)))?;
        let cells: Vec<String> = rec.iter().map(|c| unguard(c.trim()).to_string()).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        rows.push((i + 2, cells));
    }
    Ok(Table { headers, rows })
}

/// A cell as it was before an export guarded it against formulas: the
/// apostrophe [`crate::export`] puts before = + - @ is the spreadsheet's
/// "this is text" mark, not part of the value, so an export reads back
/// as it was.
fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "whole numbers below 1e15 and Excel day counts fit in i64"
)]
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        // Excel counts days from 1899-12-30 (after its 1900 leap-year bug).
        Data::DateTime(dt) => NaiveDate::from_ymd_opt(1899, 12, 30)
            .and_then(|d| d.checked_add_signed(chrono::Duration::days(dt.as_f64() as i64)))
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| dt.as_f64().to_string()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Reads the first worksheet of an .xlsx workbook.
pub fn read_xlsx(bytes: &[u8]) -> Result<Table> {
    let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
        .map_err(|e| StoreError::File(format!("not a readable .xlsx workbook: {e}")))?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or_else(|| StoreError::File("the workbook has no worksheet".into()))?
        .map_err(|e| StoreError::File(format!("worksheet: {e}")))?;
    let start_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    let mut rows_iter = range.rows();
    let headers = rows_iter
        .next()
        .map(|r| r.iter().map(cell_text).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (i, r) in rows_iter.enumerate() {
        let cells: Vec<String> = r.iter().map(cell_text).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        rows.push((start_row + i + 2, cells));
    }
    Ok(Table { headers, rows })
}

/// A column: its canonical name, the Chinese header, and whether it is required.
pub struct Column {
    pub key: &'static str,
    pub zh: &'static str,
    pub required: bool,
}

const fn col(key: &'static str, zh: &'static str, required: bool) -> Column {
    Column { key, zh, required }
}

/// Columns of a registry file: one row per person (or per empty dwelling).
pub const REGISTRY_COLUMNS: &[Column] = &[
    col("grid_code", "网格编码", true),
    col("compound", "小区", true),
    col("building", "楼栋", true),
    col("unit", "单元", false),
    col("room", "房号", true),
    col("floor_area", "建筑面积", false),
    col("household_no", "户号", false),
    col("name", "姓名", false),
    col("gender", "性别", false),
    col("birth_date", "出生日期", false),
    col("id_number", "身份证号", false),
    col("phone", "手机号", false),
    col("relation", "与房屋关系", false),
    col("tags", "标签", false),
];

/// Columns of a compound ledger file (一院一档).
pub const COMPOUND_COLUMNS: &[Column] = &[
    col("grid_code", "网格编码", false),
    col("name", "小区", true),
    col("address", "地址", false),
    col("management_mode", "管理模式", true),
    col("property_company", "物业公司", false),
    col("property_company_code", "物业公司信用代码", false),
    col("facilities", "设施", false),
    col("known_problems", "存在问题", false),
    col("lon", "经度", false),
    col("lat", "纬度", false),
];

/// Maps each known column to its position, by English or Chinese header.
struct Layout {
    pos: HashMap<&'static str, usize>,
}

impl Layout {
    fn new(headers: &[String], columns: &[Column]) -> std::result::Result<Self, Vec<RowError>> {
        let mut pos = HashMap::new();
        let mut errors = Vec::new();
        for c in columns {
            let found = headers.iter().position(|h| {
                let h = h.trim().trim_start_matches('\u{feff}');
                h.eq_ignore_ascii_case(c.key) || h == c.zh
            });
            match found {
                Some(i) => {
                    pos.insert(c.key, i);
                }
                None if c.required => errors.push(RowError {
                    row: 1,
                    field: c.key.into(),
                    message: format!("required column '{}' ({}) is missing", c.key, c.zh),
                }),
                None => {}
            }
        }
        if errors.is_empty() {
            Ok(Layout { pos })
        } else {
            Err(errors)
        }
    }

    fn get<'a>(&self, cells: &'a [String], key: &str) -> &'a str {
        self.pos
            .get(key)
            .and_then(|&i| cells.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Collects the errors of one row.
struct RowCheck<'a> {
    row: usize,
    errors: &'a mut Vec<RowError>,
}

impl RowCheck<'_> {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(RowError {
            row: self.row,
            field: field.into(),
            message: message.into(),
        });
    }
    fn required(&mut self, field: &str, value: &str) -> String {
        if value.is_empty() {
            self.fail(field, "is required");
        }
        value.to_string()
    }
    fn check<T>(
        &mut self,
        field: &str,
        r: std::result::Result<T, validate::FieldError>,
    ) -> Option<T> {
        r.map_err(|e| self.fail(field, e.en)).ok()
    }
}

#[derive(Debug, Clone)]
struct PersonRow {
    name: String,
    gender: Option<Gender>,
    birth_date: Option<NaiveDate>,
    id_number: Option<String>,
    phone: Option<String>,
    relation: Relation,
    tags: Vec<Tag>,
}

#[derive(Debug, Clone)]
struct RegistryRow {
    grid: usize,
    compound: String,
    building: String,
    unit: String,
    room: String,
    floor_area: Option<f64>,
    household_no: String,
    mode: Option<ManagementMode>,
    person: Option<PersonRow>,
}

fn validate_person(
    c: &mut RowCheck,
    l: &Layout,
    cells: &[String],
    today: NaiveDate,
) -> Option<PersonRow> {
    let name = l.get(cells, "name");
    let id_raw = l.get(cells, "id_number");
    if name.is_empty() {
        for f in ["id_number", "phone", "gender", "birth_date", "tags"] {
            if !l.get(cells, f).is_empty() {
                c.fail("name", format!("is required when {f} is given"));
                return None;
            }
        }
        return None;
    }
    if name.chars().count() > 50 {
        c.fail("name", "is longer than 50 characters");
    }
    let id = if id_raw.is_empty() {
        None
    } else {
        c.check("id_number", validate::resident_id(id_raw, today))
    };
    let gender = match l.get(cells, "gender") {
        "" => id.as_ref().map(|i| i.gender),
        g => c.check("gender", Gender::parse(g)),
    };
    let birth_date = match l.get(cells, "birth_date") {
        "" => id.as_ref().map(|i| i.birth_date),
        d => c.check("birth_date", validate::date(d)),
    };
    if let Some(i) = &id {
        if gender.is_some_and(|g| g != i.gender) {
            c.fail("gender", "does not match the ID number");
        }
        if birth_date.is_some_and(|b| b != i.birth_date) {
            c.fail(
                "birth_date",
                format!("does not match the ID number ({})", i.birth_date),
            );
        }
    }
    let phone = match l.get(cells, "phone") {
        "" => None,
        p => c.check("phone", validate::mobile_phone(p)),
    };
    let relation = match l.get(cells, "relation") {
        "" => Some(Relation::Resident),
        r => c.check("relation", Relation::parse(r)),
    };
    let tags = c.check("tags", registry::parse_tags(l.get(cells, "tags")));
    Some(PersonRow {
        name: name.to_string(),
        gender,
        birth_date,
        id_number: id.map(|i| i.as_str().to_string()),
        phone,
        relation: relation?,
        tags: tags?,
    })
}

/// (grid slot, compound, building, unit, room): one dwelling in a file.
type DwellingKey = (usize, String, String, String, String);

/// One validated row of a compound ledger file.
struct CompoundRow {
    grid: GridRef,
    name: String,
    mode: ManagementMode,
    company: Option<String>,
    company_code: Option<String>,
    cells: Vec<String>,
    lon: Option<f64>,
    lat: Option<f64>,
}

/// A grid the caller may write to, as needed while importing.
#[derive(Debug, Clone)]
struct GridRef {
    id: i64,
    path: String,
}

impl Store {
    async fn grids_by_code(&self, scope: &Scope) -> Result<HashMap<String, GridRef>> {
        Ok(self
            .org_units(scope, Some(OrgKind::Grid))
            .await?
            .into_iter()
            .map(|u| {
                (
                    u.code,
                    GridRef {
                        id: u.id,
                        path: u.path,
                    },
                )
            })
            .collect())
    }

    /// Imports registry rows: validates all, then writes all in one
    /// transaction. Re-importing the same file updates rather than
    /// duplicates: places are matched by name, people by ID number (or by
    /// name within the household when no ID number is given).
    pub async fn import_registry(
        &self,
        scope: &Scope,
        actor: &str,
        table: &Table,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<ImportReport> {
        let layout = match Layout::new(&table.headers, REGISTRY_COLUMNS) {
            Ok(l) => l,
            Err(e) => return Ok(ImportReport::refused(table.rows.len(), e)),
        };
        let grids = self.grids_by_code(scope).await?;
        let mut grid_list: Vec<GridRef> = Vec::new();
        let mut grid_slot: HashMap<String, usize> = HashMap::new();
        let today = chrono::Local::now().date_naive();
        let mut errors = Vec::new();
        let mut rows = Vec::with_capacity(table.rows.len());
        let mut seen_ids: HashMap<String, usize> = HashMap::new();
        let mut dwelling_area: HashMap<DwellingKey, (f64, usize)> = HashMap::new();
        for (line, cells) in &table.rows {
            let mut c = RowCheck {
                row: *line,
                errors: &mut errors,
            };
            let grid_code = c.required("grid_code", layout.get(cells, "grid_code"));
            let grid = if grid_code.is_empty() {
                None
            } else if let Some(&slot) = grid_slot.get(&grid_code) {
                Some(slot)
            } else if let Some(g) = grids.get(&grid_code) {
                grid_list.push(g.clone());
                grid_slot.insert(grid_code.clone(), grid_list.len() - 1);
                Some(grid_list.len() - 1)
            } else {
                c.fail("grid_code", format!("no grid {grid_code} in your area"));
                None
            };
            let compound = c.required("compound", layout.get(cells, "compound"));
            let building = c.required("building", layout.get(cells, "building"));
            let room = c.required("room", layout.get(cells, "room"));
            let unit = layout.get(cells, "unit").to_string();
            let floor_area = match layout.get(cells, "floor_area") {
                "" => None,
                a => c.check("floor_area", registry::floor_area(a)),
            };
            let household_no = match layout.get(cells, "household_no") {
                "" => "1".to_string(),
                h => h.to_string(),
            };
            let person = validate_person(&mut c, &layout, cells, today);
            if let Some(id) = person.as_ref().and_then(|p| p.id_number.clone()) {
                if let Some(first) = seen_ids.get(&id) {
                    c.fail(
                        "id_number",
                        format!("the same ID number is already on row {first}"),
                    );
                } else {
                    seen_ids.insert(id, *line);
                }
            }
            if let (Some(g), Some(a)) = (grid, floor_area) {
                let key = (
                    g,
                    compound.clone(),
                    building.clone(),
                    unit.clone(),
                    room.clone(),
                );
                match dwelling_area.get(&key) {
                    Some((other, first)) if (other - a).abs() > 1e-6 => c.fail(
                        "floor_area",
                        format!(
                            "{a} differs from {other} given for the same dwelling on row {first}"
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        dwelling_area.insert(key, (a, *line));
                    }
                }
            }
            if let Some(g) = grid {
                rows.push(RegistryRow {
                    grid: g,
                    compound,
                    building,
                    unit,
                    room,
                    floor_area,
                    household_no,
                    mode: None,
                    person,
                });
            }
        }
        if !errors.is_empty() {
            return Ok(ImportReport::refused(table.rows.len(), errors));
        }
        let total = rows.len() as u64;
        let mut report = ImportReport {
            rows: table.rows.len(),
            committed: true,
            ..Default::default()
        };
        let vault = self.vault();
        let now = now_ms();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let mut compounds: HashMap<(i64, String), i64> = HashMap::new();
            let mut buildings: HashMap<(i64, String), i64> = HashMap::new();
            let mut dwellings: HashMap<(i64, String, String), i64> = HashMap::new();
            let mut households: HashMap<(i64, String), i64> = HashMap::new();
            for (n, r) in rows.iter().enumerate() {
                let g = &grid_list[r.grid];
                let key = (g.id, r.compound.clone());
                let compound_id = match compounds.get(&key) {
                    Some(id) => *id,
                    None => {
                        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM compound WHERE grid_id = $1 AND name = $2")
                            .bind(g.id).bind(&r.compound).fetch_optional(&mut *tx).await?;
                        let id = match found {
                            Some(id) => id,
                            None => {
                                *report.created.entry("compounds").or_default() += 1;
                                sqlx::query_scalar("INSERT INTO compound (grid_id, scope_path, name, management_mode, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                                    .bind(g.id).bind(&g.path).bind(&r.compound)
                                    .bind(r.mode.unwrap_or(ManagementMode::None).code()).bind(now)
                                    .fetch_one(&mut *tx).await?
                            }
                        };
                        compounds.insert(key, id);
                        id
                    }
                };
                let key = (compound_id, r.building.clone());
                let building_id = match buildings.get(&key) {
                    Some(id) => *id,
                    None => {
                        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM building WHERE compound_id = $1 AND name = $2")
                            .bind(compound_id).bind(&r.building).fetch_optional(&mut *tx).await?;
                        let id = match found {
                            Some(id) => id,
                            None => {
                                *report.created.entry("buildings").or_default() += 1;
                                sqlx::query_scalar("INSERT INTO building (compound_id, scope_path, name) VALUES ($1, $2, $3) RETURNING id")
                                    .bind(compound_id).bind(&g.path).bind(&r.building)
                                    .fetch_one(&mut *tx).await?
                            }
                        };
                        buildings.insert(key, id);
                        id
                    }
                };
                let key = (building_id, r.unit.clone(), r.room.clone());
                let dwelling_id = match dwellings.get(&key) {
                    Some(id) => *id,
                    None => {
                        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM dwelling WHERE building_id = $1 AND unit_no = $2 AND room_no = $3")
                            .bind(building_id).bind(&r.unit).bind(&r.room).fetch_optional(&mut *tx).await?;
                        let id = match found {
                            Some(id) => {
                                if r.floor_area.is_some() {
                                    *report.updated.entry("dwellings").or_default() += 1;
                                    sqlx::query("UPDATE dwelling SET floor_area = $1 WHERE id = $2")
                                        .bind(r.floor_area).bind(id).execute(&mut *tx).await?;
                                }
                                id
                            }
                            None => {
                                *report.created.entry("dwellings").or_default() += 1;
                                sqlx::query_scalar("INSERT INTO dwelling (building_id, scope_path, unit_no, room_no, floor_area) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                                    .bind(building_id).bind(&g.path).bind(&r.unit).bind(&r.room).bind(r.floor_area)
                                    .fetch_one(&mut *tx).await?
                            }
                        };
                        dwellings.insert(key, id);
                        id
                    }
                };
                if let Some(p) = &r.person {
                    let key = (dwelling_id, r.household_no.clone());
                    let household_id = match households.get(&key) {
                        Some(id) => *id,
                        None => {
                            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM household WHERE dwelling_id = $1 AND household_no = $2")
                                .bind(dwelling_id).bind(&r.household_no).fetch_optional(&mut *tx).await?;
                            let id = match found {
                                Some(id) => id,
                                None => {
                                    *report.created.entry("households").or_default() += 1;
                                    sqlx::query_scalar("INSERT INTO household (dwelling_id, scope_path, household_no) VALUES ($1, $2, $3) RETURNING id")
                                        .bind(dwelling_id).bind(&g.path).bind(&r.household_no)
                                        .fetch_one(&mut *tx).await?
                                }
                            };
                            households.insert(key, id);
                            id
                        }
                    };
                    let id_idx = p.id_number.as_deref().map(|i| vault.blind_index(Field::IdNumber, i));
                    let existing: Option<i64> = match &id_idx {
                        Some(idx) => sqlx::query_scalar("SELECT id FROM person WHERE household_id = $1 AND id_idx = $2")
                            .bind(household_id).bind(idx).fetch_optional(&mut *tx).await?,
                        None => sqlx::query_scalar("SELECT id FROM person WHERE household_id = $1 AND name = $2 AND id_idx IS NULL")
                            .bind(household_id).bind(&p.name).fetch_optional(&mut *tx).await?,
                    };
                    let id_enc = p.id_number.as_deref().map(|i| vault.seal(Field::IdNumber, i));
                    let id_masked = p.id_number.as_deref().map(mask::id_number);
                    let phone_enc = p.phone.as_deref().map(|x| vault.seal(Field::Phone, x));
                    let phone_idx = p.phone.as_deref().map(|x| vault.blind_index(Field::Phone, x));
                    let phone_masked = p.phone.as_deref().map(mask::phone);
                    let gender = p.gender.map(|g| g.code());
                    let birth_year = p.birth_date.map(|d| d.year());
                    let birth_enc = p.birth_date.map(|d| vault.seal(Field::BirthDate, &d.format("%Y-%m-%d").to_string()));
                    let person_id: i64 = match existing {
                        Some(id) => {
                            *report.updated.entry("people").or_default() += 1;
                            sqlx::query("UPDATE person SET name = $1, gender = $2, birth_year = $3, birth_enc = $4, id_enc = $5, id_masked = $6, phone_enc = $7, phone_idx = $8, phone_masked = $9, relation = $10, updated_at = $11 WHERE id = $12")
                                .bind(&p.name).bind(gender).bind(birth_year).bind(&birth_enc).bind(&id_enc).bind(&id_masked)
                                .bind(&phone_enc).bind(&phone_idx).bind(&phone_masked).bind(p.relation.code()).bind(now).bind(id)
                                .execute(&mut *tx).await?;
                            sqlx::query("DELETE FROM person_tag WHERE person_id = $1").bind(id).execute(&mut *tx).await?;
                            id
                        }
                        None => {
                            *report.created.entry("people").or_default() += 1;
                            sqlx::query_scalar("INSERT INTO person (household_id, scope_path, name, gender, birth_year, birth_enc, id_enc, id_idx, id_masked, phone_enc, phone_idx, phone_masked, relation, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id")
                                .bind(household_id).bind(&g.path).bind(&p.name).bind(gender).bind(birth_year).bind(&birth_enc)
                                .bind(&id_enc).bind(&id_idx).bind(&id_masked).bind(&phone_enc).bind(&phone_idx).bind(&phone_masked)
                                .bind(p.relation.code()).bind(now)
                                .fetch_one(&mut *tx).await?
                        }
                    };
                    for t in &p.tags {
                        sqlx::query("INSERT INTO person_tag (person_id, tag) VALUES ($1, $2)")
                            .bind(person_id).bind(t.code()).execute(&mut *tx).await?;
                    }
                }
                if n % 100 == 99 || n + 1 == rows.len() {
                    progress(n as u64 + 1, total);
                }
            }
            let detail = serde_json::json!({"rows": report.rows, "created": report.created, "updated": report.updated}).to_string();
            append_in_tx!(tx, self.vault(), actor, "registry.import", "registry", &detail);
            tx.commit().await?;
        });
        self.changed(crate::caches::Cached::RegistryCounts).await?;
        Ok(report)
    }

    /// Imports the compound ledger (一院一档). A row without a grid code
    /// but with lon/lat is placed in its grid by the point-in-grid index.
    pub async fn import_compounds(
        &self,
        scope: &Scope,
        actor: &str,
        table: &Table,
    ) -> Result<ImportReport> {
        let layout = match Layout::new(&table.headers, COMPOUND_COLUMNS) {
            Ok(l) => l,
            Err(e) => return Ok(ImportReport::refused(table.rows.len(), e)),
        };
        let grids = self.grids_by_code(scope).await?;
        let by_id: HashMap<i64, &GridRef> = grids.values().map(|g| (g.id, g)).collect();
        let index = self.grid_index().await?;
        let mut errors = Vec::new();
        let mut rows = Vec::new();
        let mut seen: HashSet<(i64, String)> = HashSet::new();
        for (line, cells) in &table.rows {
            let mut c = RowCheck {
                row: *line,
                errors: &mut errors,
            };
            let name = c.required("name", layout.get(cells, "name"));
            let mode = c.check(
                "management_mode",
                ManagementMode::parse(layout.get(cells, "management_mode")),
            );
            let coord = |c: &mut RowCheck, key: &str, lo: f64, hi: f64| match layout.get(cells, key)
            {
                "" => None,
                v => match v.parse::<f64>() {
                    Ok(x) if (lo..=hi).contains(&x) => Some(x),
                    _ => {
                        c.fail(key, format!("'{v}' is not a WGS-84 {key}"));
                        None
                    }
                },
            };
            let lon = coord(&mut c, "lon", -180.0, 180.0);
            let lat = coord(&mut c, "lat", -90.0, 90.0);
            let code = layout.get(cells, "grid_code");
            let grid = if !code.is_empty() {
                let g = grids.get(code);
                if g.is_none() {
                    c.fail("grid_code", format!("no grid {code} in your area"));
                }
                g
            } else if let (Some(x), Some(y)) = (lon, lat) {
                let g = index.locate(x, y).and_then(|id| by_id.get(&id).copied());
                if g.is_none() {
                    c.fail("lon", format!("({x}, {y}) lies in no grid of your area"));
                }
                g
            } else {
                c.fail("grid_code", "is required unless lon and lat are given");
                None
            };
            if let Some(g) = grid
                && !seen.insert((g.id, name.clone()))
            {
                c.fail(
                    "name",
                    format!("compound '{name}' appears twice for the same grid"),
                );
            }
            let mode_is_company = mode == Some(ManagementMode::PropertyCompany);
            let company = layout.get(cells, "property_company").to_string();
            if mode_is_company && company.is_empty() {
                c.fail(
                    "property_company",
                    "is required when the compound has a property company",
                );
            }
            let company_code = match layout.get(cells, "property_company_code") {
                "" => None,
                v => c.check("property_company_code", validate::uscc(v)),
            };
            if let (Some(g), Some(mode)) = (grid, mode) {
                rows.push(CompoundRow {
                    grid: g.clone(),
                    name,
                    mode,
                    company: (!company.is_empty()).then_some(company),
                    company_code,
                    cells: cells.clone(),
                    lon,
                    lat,
                });
            }
        }
        if !errors.is_empty() {
            return Ok(ImportReport::refused(table.rows.len(), errors));
        }
        let mut report = ImportReport {
            rows: table.rows.len(),
            committed: true,
            ..Default::default()
        };
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            for CompoundRow { grid: g, name, mode, company, company_code, cells, lon, lat } in &rows {
                let address = layout.get(cells, "address");
                let facilities = layout.get(cells, "facilities");
                let problems = layout.get(cells, "known_problems");
                let found: Option<i64> = sqlx::query_scalar("SELECT id FROM compound WHERE grid_id = $1 AND name = $2")
                    .bind(g.id).bind(name).fetch_optional(&mut *tx).await?;
                match found {
                    Some(id) => {
                        *report.updated.entry("compounds").or_default() += 1;
                        sqlx::query("UPDATE compound SET address = $1, management_mode = $2, property_company = $3, property_company_code = $4, facilities = $5, known_problems = $6, lon = COALESCE($7, lon), lat = COALESCE($8, lat) WHERE id = $9")
                            .bind(address).bind(mode.code()).bind(company).bind(company_code).bind(facilities).bind(problems).bind(lon).bind(lat).bind(id)
                            .execute(&mut *tx).await?;
                    }
                    None => {
                        *report.created.entry("compounds").or_default() += 1;
                        sqlx::query("INSERT INTO compound (grid_id, scope_path, name, address, management_mode, property_company, property_company_code, facilities, known_problems, lon, lat, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
                            .bind(g.id).bind(&g.path).bind(name).bind(address).bind(mode.code()).bind(company).bind(company_code)
                            .bind(facilities).bind(problems).bind(lon).bind(lat).bind(now_ms())
                            .execute(&mut *tx).await?;
                    }
                }
            }
            let detail = serde_json::json!({"rows": report.rows, "created": report.created, "updated": report.updated}).to_string();
            append_in_tx!(tx, self.vault(), actor, "compounds.import", "compound", &detail);
            tx.commit().await?;
        });
        self.changed(crate::caches::Cached::RegistryCounts).await?;
        Ok(report)
    }

    /// Imports grid polygons from a GeoJSON FeatureCollection. Each feature
    /// needs a 15-digit `code`; `name`, `zone`, `community_name`,
    /// `subdistrict_name`, `district_name` and `city_name` are optional.
    /// Missing ancestors are created from the code when the caller's scope
    /// is the whole tree; otherwise the community must already be in scope.
    pub async fn import_grids(
        &self,
        scope: &Scope,
        actor: &str,
        text: &str,
    ) -> Result<ImportReport> {
        let features = match linli_geo::parse_grid_features(text) {
            Ok(f) => f,
            Err(errs) => {
                let errors = errs
                    .into_iter()
                    .map(|e| match e {
                        linli_geo::GeoError::Feature { feature, message } => RowError {
                            row: feature,
                            field: "feature".into(),
                            message,
                        },
                        other => RowError {
                            row: 0,
                            field: "file".into(),
                            message: other.to_string(),
                        },
                    })
                    .collect();
                return Ok(ImportReport::refused(0, errors));
            }
        };
        let mut errors = Vec::new();
        let mut seen = HashMap::new();
        let mut parsed = Vec::new();
        for (i, f) in features.iter().enumerate() {
            let row = i + 1;
            match GridCode::parse(&f.code) {
                Ok(code) => {
                    if let Some(first) = seen.insert(code.as_str().to_string(), row) {
                        errors.push(RowError {
                            row,
                            field: "code".into(),
                            message: format!("grid {} is also feature {first}", f.code),
                        });
                    }
                    if *scope != Scope::Everything
                        && self.org_by_code(scope, code.community()).await.is_err()
                    {
                        errors.push(RowError {
                            row,
                            field: "code".into(),
                            message: format!("community {} is not in your area", code.community()),
                        });
                    }
                    parsed.push((code, f));
                }
                Err(e) => errors.push(RowError {
                    row,
                    field: "code".into(),
                    message: e.en,
                }),
            }
        }
        if !errors.is_empty() {
            return Ok(ImportReport::refused(features.len(), errors));
        }
        let mut report = ImportReport {
            rows: features.len(),
            committed: true,
            ..Default::default()
        };
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let mut known: HashMap<String, OrgUnit> = HashMap::new();
            for (code, f) in &parsed {
                let mut parent: Option<OrgUnit> = None;
                let names = ["city_name", "district_name", "subdistrict_name", "community_name"];
                for ((kind, anc_code), name_key) in code.ancestors().into_iter().zip(names) {
                    let unit = match known.get(&anc_code) {
                        Some(u) => u.clone(),
                        None => {
                            let found: Option<OrgUnit> = sqlx::query_as("SELECT id, parent_id, kind, code, name, path FROM org_unit WHERE code = $1")
                                .bind(&anc_code).fetch_optional(&mut *tx).await?;
                            let u = match found {
                                Some(u) => u,
                                None => {
                                    *report.created.entry("org_units").or_default() += 1;
                                    let name = f.prop(name_key).unwrap_or_else(|| format!("{}{}", kind.label_zh(), anc_code));
                                    insert_org_in_tx!(tx, parent.as_ref(), kind, anc_code.as_str(), name.as_str(), None::<String>)
                                }
                            };
                            known.insert(anc_code.clone(), u.clone());
                            u
                        }
                    };
                    parent = Some(unit);
                }
                if let Some(zone) = f.prop("zone") {
                    let community = parent.clone();
                    let zone_code = format!("{}-{zone}", code.community());
                    let unit = match known.get(&zone_code) {
                        Some(u) => u.clone(),
                        None => {
                            let found: Option<OrgUnit> = sqlx::query_as("SELECT id, parent_id, kind, code, name, path FROM org_unit WHERE code = $1")
                                .bind(&zone_code).fetch_optional(&mut *tx).await?;
                            let u = match found {
                                Some(u) => u,
                                None => {
                                    *report.created.entry("org_units").or_default() += 1;
                                    insert_org_in_tx!(tx, community.as_ref(), OrgKind::Zone, zone_code.as_str(), zone.as_str(), None::<String>)
                                }
                            };
                            known.insert(zone_code, u.clone());
                            u
                        }
                    };
                    parent = Some(unit);
                }
                let geometry = linli_geo::to_geojson(&f.shape).to_string();
                let name = f.name.clone().unwrap_or_else(|| format!("网格{}", &code.as_str()[12..]));
                let found: Option<i64> = sqlx::query_scalar("SELECT id FROM org_unit WHERE code = $1")
                    .bind(code.as_str()).fetch_optional(&mut *tx).await?;
                match found {
                    Some(id) => {
                        *report.updated.entry("grids").or_default() += 1;
                        sqlx::query("UPDATE org_unit SET name = $1, geometry = $2 WHERE id = $3")
                            .bind(&name).bind(&geometry).bind(id).execute(&mut *tx).await?;
                    }
                    None => {
                        *report.created.entry("grids").or_default() += 1;
                        insert_org_in_tx!(tx, parent.as_ref(), OrgKind::Grid, code.as_str(), name.as_str(), Some(geometry.as_str()));
                    }
                }
            }
            let detail = serde_json::json!({"features": report.rows, "created": report.created, "updated": report.updated}).to_string();
            append_in_tx!(tx, self.vault(), actor, "grids.import", "org_unit", &detail);
            tx.commit().await?;
        });
        self.changed(crate::caches::Cached::Grids).await?;
        self.changed(crate::caches::Cached::RegistryCounts).await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guarded_export_reads_back_as_it_was() {
        let t = read_csv("名称,备注\n'=SUM(A1),'-5\n'普通,it's\n".as_bytes()).unwrap();
        assert_eq!(t.rows[0].1, ["=SUM(A1)", "-5"]);
        assert_eq!(
            t.rows[1].1,
            ["'普通", "it's"],
            "only the export's guard is taken off"
        );
    }
}
