//! Bulk import: ledgers as communities keep them (read by [`read_ledger`]
//! from CSV, .xlsx or .xls), the registry ([`population`]), the compound
//! ledger ([`compounds`]), grid polygons from GeoJSON ([`grids`]); an
//! upload waiting for its confirmation ([`upload`]).
//!
//! Every import validates the whole file first. A file with any bad row
//! writes nothing and returns every problem of every row, naming the row
//! (as the spreadsheet numbers it) and the column, in Chinese and English.
//! A good file is written in one transaction.

use std::collections::{HashMap, HashSet};

use linli_core::ledger::{self, Dictionary, LedgerKind};
use linli_core::org::OrgKind;
use serde::Serialize;

use crate::{Msg, Result, Scope, Store, StoreError};

/// One problem in an import file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RowError {
    /// Row number as a spreadsheet shows it (the header is row 1); for
    /// GeoJSON, the feature number (from 1).
    pub row: usize,
    pub field: String,
    pub message: String,
    /// The same in Chinese, for Chinese pages.
    pub message_zh: String,
}

impl RowError {
    pub fn new(row: usize, field: impl Into<String>, message: Msg) -> Self {
        RowError {
            row,
            field: field.into(),
            message: message.en,
            message_zh: message.zh,
        }
    }
    /// The message in the reader's language.
    pub fn text(&self, zh: bool) -> &str {
        if zh { &self.message_zh } else { &self.message }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}, {}: {}", self.row, self.field, self.message)
    }
}

/// A value the import changed on its way in (full-width digits, a
/// 15-digit ID number, 703室 → 703 …), so the worker sees every one.
/// Personal values (ID numbers, phones) are shown masked.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ValueChange {
    pub row: usize,
    pub field: &'static str,
    pub from: String,
    pub to: String,
    pub why: &'static str,
    pub why_zh: &'static str,
}

/// What an import did, or why it did nothing.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub committed: bool,
    /// A preview: everything was checked and written inside a transaction
    /// that was then rolled back, so the counts are what a real import
    /// would do.
    pub dry_run: bool,
    pub errors: Vec<RowError>,
    pub created: HashMap<&'static str, u64>,
    pub updated: HashMap<&'static str, u64>,
    /// Records found in the file exactly as stored.
    pub unchanged: HashMap<&'static str, u64>,
    /// Each column and the field it fills.
    pub mapping: Vec<ColumnUse>,
    pub notices: Vec<Notice>,
    pub changes: Vec<ValueChange>,
    /// Each person the import updates, with what changes (masked as
    /// lists show it: the year of a birth date, a phone's ends).
    pub updates: Vec<PersonUpdate>,
}

/// A person an import updates: the row, the name, and the fields that
/// change. `household` (empty values) means the person moves to this
/// row's flat or household.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PersonUpdate {
    pub row: usize,
    pub name: String,
    pub fields: Vec<FieldUpdate>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FieldUpdate {
    pub field: &'static str,
    pub from: String,
    pub to: String,
}

impl ImportReport {
    fn refused_rows(rows: usize, errors: Vec<RowError>) -> Self {
        ImportReport {
            rows,
            errors,
            ..Default::default()
        }
    }
    fn refused(table: &Table, errors: Vec<RowError>) -> Self {
        ImportReport {
            rows: table.rows.len(),
            committed: false,
            errors,
            mapping: table.mapping.clone(),
            notices: table.notices.clone(),
            ..Default::default()
        }
    }
}

/// How to run an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Check and count everything, write nothing.
    pub dry_run: bool,
    /// The grid (its 15-digit code) of every row that gives none: for a
    /// ledger kept by one grid or community without a grid column.
    pub grid: Option<String>,
}

mod compounds;
mod grids;
mod population;
mod table;
mod upload;

pub use grids::DEFAULT_OVERLAP_TOLERANCE_M2;
pub use table::{Sheet, TableFormat, read_sheets};
pub use upload::{KeptUpload, UploadChoices};

/// A table read from a file: headers and rows of text cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The header of each column. For a ledger read with
    /// [`read_ledger`], a recognised column carries its field key (such
    /// as `id_number`) and the rest their text as written.
    pub headers: Vec<String>,
    /// (spreadsheet row number, cells)
    pub rows: Vec<(usize, Vec<String>)>,
    /// (spreadsheet row number, column) of cells holding an Excel number
    /// too long to be exact.
    pub rounded: HashSet<(usize, usize)>,
    /// How the file was read and what was set aside: header position,
    /// columns not used, rows skipped, merged cells filled.
    pub notices: Vec<Notice>,
    /// The column headers as the file writes them, beside the field each
    /// fills (for the preview's column mapping).
    pub mapping: Vec<ColumnUse>,
}

impl Table {
    fn is_rounded(&self, row: usize, col: usize) -> bool {
        self.rounded.contains(&(row, col))
    }
}

/// One column of a file and the field it fills (`None`: not used).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ColumnUse {
    pub header: String,
    pub field: Option<&'static str>,
}

/// Something the worker should know about an import that is not an
/// error: a row skipped, a column not used, values filled or changed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Notice {
    /// The row it concerns, where it concerns one.
    pub row: Option<usize>,
    pub message: String,
    pub message_zh: String,
}

impl Notice {
    pub(crate) fn new(row: Option<usize>, en: impl Into<String>, zh: impl Into<String>) -> Self {
        Notice {
            row,
            message: en.into(),
            message_zh: zh.into(),
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

/// [`read_ledger`] on the blocking pool.
pub async fn parse_ledger(
    bytes: impl AsRef<[u8]> + Send + 'static,
    format: TableFormat,
    kind: LedgerKind,
    sheet: Option<String>,
) -> Result<Table> {
    crate::off_async(move || read_ledger(bytes.as_ref(), format, kind, sheet.as_deref())).await?
}

/// A table whose first row is its header (files linli wrote itself, and
/// formats with fixed headers): the first sheet of a workbook.
pub fn read_table(bytes: &[u8], format: TableFormat) -> Result<Table> {
    let sheet = read_sheets(bytes, format)?
        .into_iter()
        .next()
        .unwrap_or_default();
    let mut rows = sheet.rows.into_iter().zip(sheet.numbers);
    let headers = rows
        .next()
        .map(|(h, _)| h.into_iter().map(|c| c.trim().to_string()).collect())
        .unwrap_or_default();
    let rounded = sheet
        .rounded
        .iter()
        .filter(|&&(i, _)| i > 0)
        .map(|&(i, c)| (i + 1, c))
        .collect();
    Ok(Table {
        headers,
        rows: rows
            .filter(|(cells, _)| !cells.iter().all(String::is_empty))
            .map(|(cells, n)| (n, cells))
            .collect(),
        rounded,
        ..Default::default()
    })
}

pub fn read_csv(bytes: &[u8]) -> Result<Table> {
    read_table(bytes, TableFormat::Csv)
}

pub fn read_xlsx(bytes: &[u8]) -> Result<Table> {
    read_table(bytes, TableFormat::Xlsx)
}

/// Reads a ledger as communities keep it: the sheet asked for (or the
/// first whose header names at least two known fields), the header found
/// under title rows and across two merged rows, rows of totals and
/// signatures skipped, merged cells filled. Everything set aside or
/// filled is a [`Notice`].
pub fn read_ledger(
    bytes: &[u8],
    format: TableFormat,
    kind: LedgerKind,
    sheet_name: Option<&str>,
) -> Result<Table> {
    let mut sheets = read_sheets(bytes, format)?;
    let dict = Dictionary::of(kind);
    let names = || {
        sheets
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join("、")
    };
    let (sheet, header) = match sheet_name.filter(|n| !n.is_empty()) {
        Some(n) => {
            let s = sheets.iter().find(|s| s.name == n).ok_or_else(|| {
                StoreError::invalid(
                    "sheet",
                    format!("the workbook has no sheet '{n}' (it has: {})", names()),
                    format!("工作簿中没有“{n}”工作表（现有：{}）", names()),
                )
            })?;
            (s, ledger::find_header(&s.rows, &dict))
        }
        None => sheets
            .iter()
            .find_map(|s| ledger::find_header(&s.rows, &dict).map(|h| (s, Some(h))))
            .unwrap_or((&sheets[0], None)),
    };
    // The sheet is taken out of the list so its rows move into the table
    // rather than being copied (a ledger can have 200,000 rows).
    let chosen = sheets
        .iter()
        .position(|s| std::ptr::eq(s, sheet))
        .unwrap_or_default();
    let mut sheet = sheets.remove(chosen);
    let Some(header) = header else {
        // No recognisable header: read the first row as the header so the
        // import names the columns it misses.
        let mut t = read_table(bytes, format)?;
        t.notices.push(Notice::new(
            Some(1),
            "no row among the first 20 names two known columns; row 1 is taken as the header",
            "前 20 行中没有一行含两个以上可识别的列名，按第 1 行作为表头",
        ));
        return Ok(t);
    };
    let mut t = Table::default();
    let first_data = header.first_row + header.height;
    let header_rows = &sheet.numbers[header.first_row..first_data];
    let at = |i: usize| sheet.numbers.get(i).copied().unwrap_or(i + 1);
    t.notices.push(Notice::new(
        None,
        format!(
            "read {}{}; header on row {}",
            if sheet.name.is_empty() {
                String::new()
            } else {
                format!("sheet '{}', ", sheet.name)
            },
            sheet.read_as,
            header_rows
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("-"),
        ),
        format!(
            "读取{}（{}）；表头在第 {} 行",
            if sheet.name.is_empty() {
                String::new()
            } else {
                format!("工作表“{}”", sheet.name)
            },
            sheet
                .read_as
                .replace("comma", "逗号分隔")
                .replace("tab", "制表符分隔")
                .replace("semicolon", "分号分隔")
                .replace("Excel", "Excel 工作簿"),
            header_rows
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("-"),
        ),
    ));
    if header.first_row > 0 {
        let above = match at(header.first_row - 1) {
            1 => "1".to_string(),
            last => format!("1-{last}"),
        };
        t.notices.push(Notice::new(
            None,
            format!("rows {above} above the header (titles) are not read"),
            format!("表头上方第 {above} 行（标题等）不导入"),
        ));
    }
    // Other sheets with a recognisable header are named: a ledger split
    // into one sheet a building must not lose its other sheets unseen.
    if sheet_name.is_none_or(str::is_empty) {
        let others: Vec<&str> = sheets
            .iter()
            .filter(|s| ledger::find_header(&s.rows, &dict).is_some())
            .map(|s| s.name.as_str())
            .collect();
        if !others.is_empty() {
            let list = others.join("、");
            t.notices.push(Notice::new(
                None,
                format!("only sheet '{}' is read; sheets {list} also have a header and are not imported (choose each sheet to import it)", sheet.name),
                format!("只读取了工作表“{}”；工作表“{list}”也有可识别的表头，未导入（请逐个选择工作表导入）", sheet.name),
            ));
        }
    }
    for (i, field) in header.fields.iter().enumerate() {
        let label = header.labels[i].clone();
        t.headers.push(field.map_or(label.clone(), str::to_string));
        t.mapping.push(ColumnUse {
            header: label,
            field: *field,
        });
    }
    for (col, label) in header.unused() {
        t.notices.push(Notice::new(
            None,
            format!(
                "column {} '{label}' is not imported: linli has no field for it",
                col_name(col)
            ),
            format!(
                "第 {} 列“{label}”不导入：系统中没有对应的字段",
                col_name(col)
            ),
        ));
    }
    for (col, field) in header.repeated() {
        t.headers[col] = header.labels[col].clone();
        t.mapping[col].field = None;
        t.notices.push(Notice::new(
            None,
            format!(
                "column {} '{}' is not imported: an earlier column already gives {field}",
                col_name(col),
                header.labels[col]
            ),
            format!(
                "第 {} 列“{}”不导入：前面已有同一字段的列",
                col_name(col),
                header.labels[col]
            ),
        ));
    }
    let mut filled: HashMap<usize, usize> = HashMap::new();
    for i in first_data..sheet.rows.len() {
        let cells = std::mem::take(&mut sheet.rows[i]);
        let n = at(i);
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        // The header again inside the data (a ledger pasted together from
        // several pages): skipped and named.
        if cells
            .iter()
            .zip(&header.labels)
            .filter(|(c, l)| !l.is_empty() && c.trim() == l.as_str())
            .count()
            >= 2
        {
            t.notices.push(Notice::new(
                Some(n),
                format!("row {n} repeats the header and is skipped"),
                format!("第 {n} 行是重复的表头，已跳过"),
            ));
            continue;
        }
        if ledger::is_note_row(&cells) {
            let mut text: Vec<&str> = cells
                .iter()
                .map(|c| c.trim())
                .filter(|c| !c.is_empty())
                .collect();
            // A note merged across the row reads once.
            text.dedup();
            let mut text = text.iter().take(2).copied().collect::<Vec<_>>().join(" ");
            if text.chars().count() > 40 {
                text = text.chars().take(40).collect::<String>() + "…";
            }
            t.notices.push(Notice::new(
                Some(n),
                format!("row {n} is not data (a total, signature or note) and is skipped: {text}"),
                format!("第 {n} 行不是数据（合计、签名或说明），已跳过：{text}"),
            ));
            continue;
        }
        for col in 0..cells.len() {
            if sheet.rounded.contains(&(i, col)) {
                t.rounded.insert((n, col));
            }
            if sheet.merged.contains(&(i, col))
                && header.fields.get(col).copied().flatten().is_some()
            {
                *filled.entry(col).or_default() += 1;
            }
        }
        t.rows.push((n, cells));
    }
    let mut filled: Vec<_> = filled.into_iter().collect();
    filled.sort_unstable();
    for (col, count) in filled {
        t.notices.push(Notice::new(
            None,
            format!(
                "column {} '{}': {count} cells filled from merged cells",
                col_name(col),
                header.labels[col]
            ),
            format!(
                "第 {} 列“{}”：{count} 个合并单元格已按合并值填充",
                col_name(col),
                header.labels[col]
            ),
        ));
    }
    Ok(t)
}

/// A column's letter as a spreadsheet shows it (0 → A, 26 → AA).
fn col_name(mut col: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[col % 26]);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

impl Table {
    /// Applies a worker's column choices over what the dictionary found:
    /// header as written → field key, or "" for "not imported". A choice
    /// for a column the file does not have is named in a notice (a
    /// template may name columns of other files); an unknown field, or one
    /// field chosen for two columns, is refused by name. Each column whose
    /// use changes is reported.
    pub fn remap(
        &mut self,
        choices: &std::collections::BTreeMap<String, String>,
        columns: &[Column],
    ) -> Result<()> {
        for (header, key) in choices {
            let key = key.trim();
            let field: Option<&'static str> = match key {
                "" => None,
                k => Some(
                    columns
                        .iter()
                        .find(|c| c.key == k)
                        .map(|c| c.key)
                        .ok_or_else(|| {
                            StoreError::invalid(
                                "mapping",
                                format!("'{k}' is not a field of this import"),
                                format!("“{k}”不是本类导入的字段"),
                            )
                        })?,
                ),
            };
            let at: Vec<usize> = (0..self.mapping.len())
                .filter(|&i| self.mapping[i].header == *header)
                .collect();
            if at.is_empty() {
                self.notices.push(Notice::new(
                    None,
                    format!("chosen mapping: the file has no column '{header}'"),
                    format!("所选列对应：文件中没有“{header}”列"),
                ));
            }
            for i in at {
                if self.mapping[i].field == field {
                    continue;
                }
                self.mapping[i].field = field;
                if let Some(h) = self.headers.get_mut(i) {
                    *h = field.map_or_else(|| header.clone(), str::to_string);
                }
                // What the dictionary said about this column no longer holds.
                let said = format!("'{header}' is not imported");
                self.notices.retain(|n| !n.message.contains(&said));
                let zh = field
                    .and_then(|f| columns.iter().find(|c| c.key == f))
                    .map_or("不导入", |c| c.zh);
                self.notices.push(Notice::new(
                    None,
                    format!(
                        "chosen mapping: column '{header}' is imported as {}",
                        field.unwrap_or("nothing")
                    ),
                    format!(
                        "所选列对应：“{header}”列{}",
                        if field.is_some() {
                            format!("导入为“{zh}”")
                        } else {
                            "不导入".to_string()
                        }
                    ),
                ));
            }
        }
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for m in &self.mapping {
            if let Some(f) = m.field
                && let Some(first) = seen.insert(f, m.header.as_str())
            {
                return Err(StoreError::invalid(
                    "mapping",
                    format!(
                        "columns '{first}' and '{}' are both chosen for {f}; choose one",
                        m.header
                    ),
                    format!(
                        "“{first}”和“{}”两列都选成了“{}”，请只选一列",
                        m.header,
                        columns.iter().find(|c| c.key == f).map_or(f, |c| c.zh)
                    ),
                ));
            }
        }
        Ok(())
    }
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
    // Not required as a column: a ledger kept by one grid may name the
    // grid once for the whole file; each row without one is refused.
    col("grid_code", "网格编码", false),
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
    col("head_relation", "与户主关系", false),
    col("landline", "固定电话", false),
    // The person's key in linli, written by every export: an edited export
    // imports back as updates of the same people.
    col("record_key", "记录编号", false),
];

/// A person's record key as exports write it.
pub fn record_key(person_id: i64) -> String {
    format!("P{person_id}")
}

/// The person id of a record key, if the text is one.
fn parse_record_key(text: &str) -> Option<i64> {
    ledger::half_width(text.trim())
        .strip_prefix(['P', 'p'])
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
}

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
                    message_zh: format!(
                        "缺少必需的列“{}”：表头中没有找到这一列（或它的常用别名）",
                        c.zh
                    ),
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

/// Collects the errors and changes of one row: every problem of a row is
/// reported at once, not only its first.
struct RowCheck<'a> {
    row: usize,
    errors: &'a mut Vec<RowError>,
}

impl RowCheck<'_> {
    fn fail(&mut self, field: &str, en: impl Into<String>, zh: impl Into<String>) {
        self.errors.push(RowError {
            row: self.row,
            field: field.into(),
            message: en.into(),
            message_zh: zh.into(),
        });
    }
    /// Whether this row already has a problem in `field`.
    fn has_error_in(&self, field: &str) -> bool {
        self.errors
            .iter()
            .rev()
            .take_while(|e| e.row == self.row)
            .any(|e| e.field == field)
    }
    fn required(&mut self, field: &str, value: &str) -> String {
        if value.is_empty() {
            self.fail(field, "is required", "必填，不能为空");
        }
        value.to_string()
    }
    fn check<T>(
        &mut self,
        field: &str,
        r: std::result::Result<T, linli_core::msg::Msg>,
    ) -> Option<T> {
        r.map_err(|e| self.fail(field, e.en, e.zh)).ok()
    }
}

/// A grid the caller may write to, as needed while importing.
#[derive(Debug, Clone)]
struct GridRef {
    id: i64,
    path: String,
}

impl Store {
    /// Compound name → the codes of the grids that have a compound of
    /// that name, in the caller's area.
    async fn compound_grids(&self, scope: &Scope) -> Result<HashMap<String, Vec<String>>> {
        let (lo, hi) = scope.bounds();
        let pairs: Vec<(String, String)> = crate::with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT c.name, g.code FROM compound c JOIN org_unit g ON g.id = c.grid_id
                 WHERE c.scope_path >= $1 AND c.scope_path < $2 ORDER BY c.name, g.code",
            )
            .bind(lo).bind(hi)
            .fetch_all(pool).await?
        });
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for (name, code) in pairs {
            let codes = out.entry(name).or_default();
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        Ok(out)
    }

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_remaps_columns_by_header() {
        use std::collections::BTreeMap;
        let csv =
            "姓名,联络人手机,小区,楼栋,房号,备用电话\n王五,13800138000,新苑,1栋,101,13900139000\n";
        let read =
            || read_ledger(csv.as_bytes(), TableFormat::Csv, LedgerKind::Registry, None).unwrap();
        let mut t = read();
        let before: Vec<_> = t.mapping.iter().map(|m| m.field).collect();
        assert_eq!(before[1], None, "not in the dictionary");
        let mut choice = BTreeMap::new();
        choice.insert("联络人手机".to_string(), "phone".to_string());
        choice.insert("不存在的列".to_string(), "landline".to_string());
        t.remap(&choice, REGISTRY_COLUMNS).unwrap();
        assert_eq!(t.mapping[1].field, Some("phone"));
        assert_eq!(t.headers[1], "phone");
        let zh: Vec<_> = t.notices.iter().map(|n| n.message_zh.as_str()).collect();
        assert!(
            zh.contains(&"所选列对应：“联络人手机”列导入为“手机号”"),
            "{zh:?}"
        );
        assert!(
            zh.contains(&"所选列对应：文件中没有“不存在的列”列"),
            "{zh:?}"
        );
        assert!(
            !zh.iter().any(|n| n.contains("“联络人手机”不导入")),
            "{zh:?}"
        );
        // One field for two columns, or a field that is not one: refused by name.
        let mut t = read();
        choice.insert("备用电话".to_string(), "phone".to_string());
        let e = t.remap(&choice, REGISTRY_COLUMNS).unwrap_err().to_string();
        assert!(e.contains("备用电话") && e.contains("phone"), "{e}");
        let mut t = read();
        let mut bad = BTreeMap::new();
        bad.insert("姓名".to_string(), "shoe_size".to_string());
        assert!(
            t.remap(&bad, REGISTRY_COLUMNS)
                .unwrap_err()
                .to_string()
                .contains("shoe_size")
        );
        // "" means not imported.
        let mut t = read();
        let mut off = BTreeMap::new();
        off.insert("房号".to_string(), String::new());
        t.remap(&off, REGISTRY_COLUMNS).unwrap();
        assert_eq!(t.mapping[4].field, None);
    }

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
