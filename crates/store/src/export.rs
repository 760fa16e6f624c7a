//! Export of the registry, the compound ledger and case lists to CSV and
//! Excel.
//!
//! The registry export uses the import's columns, so an export can be
//! edited and imported again. ID numbers and phones are masked unless the
//! caller asks for them in clear, which is written to the audit log first.

use linli_core::period::beijing_minute;
use rust_xlsxwriter::{Format, Workbook};

use crate::import::{COMPOUND_COLUMNS, REGISTRY_COLUMNS, TableFormat};
use crate::vault::Field;
use crate::{Result, Scope, Store, StoreError, with_db};

/// Excel's last row (1,048,576) less the header.
const XLSX_MAX_ROWS: u64 = 1_048_575;
const PAGE: i64 = 5_000;

/// Collects rows into a CSV or XLSX file.
pub struct TableWriter {
    format: TableFormat,
    csv: Option<csv::Writer<Vec<u8>>>,
    book: Option<Workbook>,
    rows: u64,
}

impl TableWriter {
    pub fn new(format: TableFormat, sheet: &str, headers: &[String]) -> Result<Self> {
        let mut w = TableWriter {
            format,
            csv: None,
            book: None,
            rows: 0,
        };
        match format {
            TableFormat::Csv => {
                // A BOM so that Excel opens the UTF-8 Chinese text correctly.
                let mut c = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
                c.write_record(headers)
                    .map_err(|e| StoreError::File(e.to_string()))?;
                w.csv = Some(c);
            }
            TableFormat::Xlsx => {
                let mut book = Workbook::new();
                let ws = book
                    .add_worksheet_with_constant_memory()
                    .map_err(xlsx_err)?;
                ws.set_name(sheet).map_err(xlsx_err)?;
                let bold = Format::new().set_bold();
                for (i, h) in headers.iter().enumerate() {
                    ws.set_column_width(column(i)?, 14).map_err(xlsx_err)?;
                    ws.write_string_with_format(0, column(i)?, h, &bold)
                        .map_err(xlsx_err)?;
                }
                w.book = Some(book);
            }
        }
        Ok(w)
    }

    pub fn row(&mut self, cells: &[String]) -> Result<()> {
        self.rows += 1;
        if let Some(c) = self.csv.as_mut() {
            c.write_record(cells)
                .map_err(|e| StoreError::File(e.to_string()))?;
        }
        if let Some(book) = self.book.as_mut() {
            if self.rows > XLSX_MAX_ROWS {
                return Err(StoreError::File(format!(
                    "more than {XLSX_MAX_ROWS} rows do not fit in one Excel sheet; export CSV or a smaller area"
                )));
            }
            let ws = book.worksheet_from_index(0).map_err(xlsx_err)?;
            let row = u32::try_from(self.rows).map_err(|e| StoreError::File(e.to_string()))?;
            for (i, v) in cells.iter().enumerate() {
                ws.write_string(row, column(i)?, v).map_err(xlsx_err)?;
            }
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn finish(self) -> Result<Vec<u8>> {
        match self.format {
            TableFormat::Csv => self
                .csv
                .map(|c| c.into_inner().map_err(|e| StoreError::File(e.to_string())))
                .unwrap_or_else(|| Ok(Vec::new())),
            TableFormat::Xlsx => match self.book {
                Some(mut b) => b.save_to_buffer().map_err(xlsx_err),
                None => Ok(Vec::new()),
            },
        }
    }
}

/// A spreadsheet column number (Excel has 16,384).
fn column(i: usize) -> Result<u16> {
    u16::try_from(i).map_err(|e| StoreError::File(format!("too many columns: {e}")))
}

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> StoreError {
    StoreError::File(format!("Excel: {e}"))
}

#[derive(sqlx::FromRow)]
struct ExportRow {
    grid_code: String,
    compound: String,
    building: String,
    unit_no: String,
    room_no: String,
    floor_area: Option<f64>,
    household_no: Option<String>,
    name: Option<String>,
    gender: Option<String>,
    birth_date: Option<String>,
    id_masked: Option<String>,
    id_enc: Option<Vec<u8>>,
    phone_masked: Option<String>,
    phone_enc: Option<Vec<u8>>,
    relation: Option<String>,
    tags: Option<String>,
}

/// Headers as the import reads them: Chinese, the language of the users.
pub fn headers(columns: &[crate::import::Column]) -> Vec<String> {
    columns.iter().map(|c| c.zh.to_string()).collect()
}

impl Store {
    /// Writes the registry in scope, one row per person and one per empty
    /// dwelling. Returns the file's bytes and the number of rows.
    pub async fn export_registry(
        &self,
        scope: &Scope,
        format: TableFormat,
        unmasked: Option<(&str, &str)>,
    ) -> Result<(Vec<u8>, u64)> {
        if let Some((actor, reason)) = unmasked {
            if reason.trim().is_empty() {
                return Err(StoreError::invalid(
                    "reason",
                    "a reason is required to export personal data in full",
                ));
            }
            let (lo, _) = scope.bounds();
            self.audit(
                actor,
                "registry.export_unmasked",
                &format!("scope:{lo}"),
                reason.trim(),
            )
            .await?;
        }
        let mut out = TableWriter::new(format, "registry", &headers(REGISTRY_COLUMNS))?;
        let (lo, hi) = scope.bounds();
        let sql = format!(
            "SELECT g.code AS grid_code, c.name AS compound, b.name AS building, d.unit_no, d.room_no, d.floor_area,
                    h.household_no, p.name, p.gender, p.birth_date, p.id_masked, p.id_enc, p.phone_masked, p.phone_enc, p.relation,
                    (SELECT {} FROM person_tag t WHERE t.person_id = p.id) AS tags
             FROM dwelling d
             JOIN building b ON b.id = d.building_id
             JOIN compound c ON c.id = b.compound_id
             JOIN org_unit g ON g.id = c.grid_id
             LEFT JOIN household h ON h.dwelling_id = d.id
             LEFT JOIN person p ON p.household_id = h.id
             WHERE d.scope_path >= $1 AND d.scope_path < $2 AND d.id > $3 AND d.id <= $4
             ORDER BY d.id, h.id, p.id",
            self.tags_agg()
        );
        let max_id: Option<i64> = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT MAX(id) FROM dwelling WHERE scope_path >= $1 AND scope_path < $2")
                .bind(&lo).bind(&hi).fetch_one(pool).await?
        });
        let max_id = max_id.unwrap_or(0);
        let mut after = 0i64;
        while after < max_id {
            let upto = after + PAGE;
            let rows: Vec<ExportRow> = with_db!(&self.db, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(&lo).bind(&hi).bind(after).bind(upto)
                    .fetch_all(pool).await?
            });
            for r in rows {
                let (id, phone) = if unmasked.is_some() {
                    (
                        r.id_enc
                            .map(|e| self.vault().open(Field::IdNumber, &e))
                            .transpose()?,
                        r.phone_enc
                            .map(|e| self.vault().open(Field::Phone, &e))
                            .transpose()?,
                    )
                } else {
                    (r.id_masked, r.phone_masked)
                };
                out.row(&[
                    r.grid_code,
                    r.compound,
                    r.building,
                    r.unit_no,
                    r.room_no,
                    r.floor_area.map(|a| a.to_string()).unwrap_or_default(),
                    if r.name.is_some() {
                        r.household_no.unwrap_or_default()
                    } else {
                        String::new()
                    },
                    r.name.unwrap_or_default(),
                    r.gender
                        .map(|g| {
                            if g == "male" {
                                "男".to_string()
                            } else {
                                "女".to_string()
                            }
                        })
                        .unwrap_or_default(),
                    r.birth_date.unwrap_or_default(),
                    id.unwrap_or_default(),
                    phone.unwrap_or_default(),
                    r.relation
                        .and_then(|x| linli_core::registry::Relation::parse(&x).ok())
                        .map(|x| x.label_zh().to_string())
                        .unwrap_or_default(),
                    r.tags
                        .map(|t| {
                            t.split(',')
                                .filter_map(|x| linli_core::registry::Tag::parse(x).ok())
                                .map(|x| x.label_zh())
                                .collect::<Vec<_>>()
                                .join("、")
                        })
                        .unwrap_or_default(),
                ])?;
            }
            after = upto;
        }
        let n = out.rows();
        Ok((out.finish()?, n))
    }

    /// Writes the compound ledger in scope.
    pub async fn export_compounds(
        &self,
        scope: &Scope,
        format: TableFormat,
    ) -> Result<(Vec<u8>, u64)> {
        let mut out = TableWriter::new(format, "compounds", &headers(COMPOUND_COLUMNS))?;
        for c in self.compounds(scope, None).await? {
            let mode = linli_core::registry::ManagementMode::parse(&c.management_mode)
                .map(|m| m.label_zh().to_string())
                .unwrap_or(c.management_mode);
            out.row(&[
                c.grid_code,
                c.name,
                c.address,
                mode,
                c.property_company.unwrap_or_default(),
                c.property_company_code.unwrap_or_default(),
                c.facilities,
                c.known_problems,
                c.lon.map(|x| format!("{x:.6}")).unwrap_or_default(),
                c.lat.map(|x| format!("{x:.6}")).unwrap_or_default(),
            ])?;
        }
        let n = out.rows();
        Ok((out.finish()?, n))
    }
}

/// The columns of a case list export (工单台账).
const CASE_HEADERS: [&str; 17] = [
    "工单编号",
    "登记时间",
    "渠道",
    "类别",
    "标题",
    "问题描述",
    "地址",
    "网格",
    "反映人",
    "联系电话",
    "状态",
    "承办单位",
    "响应时限",
    "处置时限",
    "结案时间",
    "评价",
    "是否超期",
];

impl Store {
    /// Writes the cases in scope that pass the filter (newest first), as a
    /// worker's case ledger; phones masked. Returns the bytes and rows.
    pub async fn export_cases(
        &self,
        scope: &Scope,
        filter: &crate::cases::CaseFilter,
        format: TableFormat,
    ) -> Result<(Vec<u8>, u64)> {
        let headers: Vec<String> = CASE_HEADERS.iter().map(|h| h.to_string()).collect();
        let mut out = TableWriter::new(format, "cases", &headers)?;
        let when = |ms: Option<i64>| ms.map(beijing_minute).unwrap_or_default();
        let mut f = filter.clone();
        f.limit = 500;
        f.offset = 0;
        loop {
            let page = self.cases(scope, &f).await?;
            let Some(last) = page.last() else { break };
            f.before_id = Some(last.row.id);
            for c in &page {
                let r = &c.row;
                out.row(&[
                    r.code.clone(),
                    when(Some(r.created_at)),
                    r.channel.clone(),
                    r.category_name.clone().unwrap_or_default(),
                    r.title.clone(),
                    r.description.clone(),
                    r.address.clone(),
                    r.grid_name.clone().unwrap_or_default(),
                    r.reporter_name.clone().unwrap_or_default(),
                    r.reporter_phone_masked.clone().unwrap_or_default(),
                    c.state_zh.to_string(),
                    r.unit_name.clone().unwrap_or_default(),
                    when(r.response_due),
                    when(r.due_at),
                    when(r.closed_at),
                    r.rating.clone().unwrap_or_default(),
                    if c.overdue { "是" } else { "" }.to_string(),
                ])?;
            }
            if page.len() < 500 {
                break;
            }
        }
        let n = out.rows();
        Ok((out.finish()?, n))
    }
}
