//! Export of the registry, the compound ledger and case lists to CSV and
//! Excel.
//!
//! The registry export uses the import's columns, so an export can be
//! edited and imported again. ID numbers and phones are masked unless the
//! caller asks for them in clear, which is written to the audit log first.
//!
//! Exports stream: rows are read page by page on the async side and handed
//! through a small bounded channel to a writer on the blocking pool, whose
//! output goes out in chunks as it is written ([`ExportStream`]). Memory
//! stays bounded whatever the size of the area (an .xlsx is compressed at
//! the end, so its finished file is held once), and when the receiver goes
//! away (a closed download) the writer and the reader stop.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use linli_core::period::beijing_minute;
use rust_xlsxwriter::{Format, Workbook};
use tokio::sync::mpsc;

use crate::import::{COMPOUND_COLUMNS, REGISTRY_COLUMNS, TableFormat};
use crate::vault::Field;
use crate::{Result, Scope, Store, StoreError, with_db};

/// Excel's last row (1,048,576) less the header.
const XLSX_MAX_ROWS: u64 = 1_048_575;
const PAGE: i64 = 5_000;

/// Rows waiting for the writer: a page at a time.
type Page = Vec<Vec<String>>;

/// What the writer gets: a page, or `None` for the end. A file is finished
/// only after the end: rows that stop without it (a failed or panicked
/// read) never make a complete-looking file.
type Msg = Option<Page>;

/// An export's bytes as they are written, in chunks; an error ends it.
pub struct ExportStream {
    pub chunks: mpsc::Receiver<Result<Vec<u8>>>,
    rows: Arc<AtomicU64>,
}

impl ExportStream {
    /// Writes the file as it comes, to `out`; returns the number of rows.
    /// An error leaves the file incomplete: the caller removes it.
    pub async fn write_to(mut self, out: &mut impl Write) -> Result<u64> {
        while let Some(chunk) = self.chunks.recv().await {
            out.write_all(&chunk?).map_err(write_err)?;
        }
        Ok(self.rows.load(Ordering::SeqCst))
    }

    /// The whole file and its number of rows (for the command line and tests).
    pub async fn collect(self) -> Result<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        let rows = self.write_to(&mut out).await?;
        Ok((out, rows))
    }
}

/// Where an export's producer puts its rows.
pub struct RowSink {
    tx: mpsc::Sender<Msg>,
    page: Page,
    format: TableFormat,
    rows: Arc<AtomicU64>,
}

/// Rows handed to the writer at a time.
const SINK_PAGE: usize = 1_000;

impl RowSink {
    pub async fn row(&mut self, cells: Vec<String>) -> Result<()> {
        let n = self.rows.fetch_add(1, Ordering::SeqCst) + 1;
        if self.format == TableFormat::Xlsx && n > XLSX_MAX_ROWS {
            return Err(StoreError::file(
                format!(
                    "more than {XLSX_MAX_ROWS} rows do not fit in one Excel sheet; export CSV or a smaller area"
                ),
                format!("超过{XLSX_MAX_ROWS}行，一个Excel工作表放不下；请导出CSV或缩小范围"),
            ));
        }
        self.page.push(cells);
        if self.page.len() >= SINK_PAGE {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.page.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Some(std::mem::take(&mut self.page)))
            .await
            .map_err(|e| StoreError::file(format!("the download was closed ({e})"), "下载已中断"))
    }

    /// The last rows and the end: the writer may finish the file.
    async fn finish(mut self) -> Result<()> {
        self.flush().await?;
        self.tx
            .send(None)
            .await
            .map_err(|e| StoreError::file(format!("the download was closed ({e})"), "下载已中断"))
    }
}

/// Starts an export: `produce` reads rows into the sink on the async side
/// while a writer on the blocking pool turns them into the file.
pub fn spawn_export<F, Fut>(
    format: TableFormat,
    sheet: &'static str,
    headers: Vec<String>,
    produce: F,
) -> ExportStream
where
    F: FnOnce(RowSink) -> Fut + Send + 'static,
    Fut: Future<Output = Result<RowSink>> + Send + 'static,
{
    let (row_tx, row_rx) = mpsc::channel::<Msg>(4);
    let (out_tx, out_rx) = mpsc::channel::<Result<Vec<u8>>>(8);
    let rows = Arc::new(AtomicU64::new(0));
    let sink = RowSink {
        tx: row_tx,
        page: Vec::new(),
        format,
        rows: rows.clone(),
    };
    let writer_out = out_tx.clone();
    let writer = tokio::task::spawn_blocking(move || {
        write_file(format, sheet, &headers, row_rx, &writer_out)
    });
    tokio::spawn(async move {
        // On a task of its own, so that a panic is an error here too.
        let produced = tokio::spawn(async move { produce(sink).await?.finish().await })
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::file(
                    format!("the export stopped: {e}"),
                    "导出中断",
                ))
            });
        // The producer's sink is gone here, so the writer sees the end.
        let written = writer
            .await
            .map_err(|e| StoreError::file(format!("the export writer stopped: {e}"), "导出中断"))
            .and_then(|r| r);
        // A failed read must not look like a complete file: the error
        // ends the stream (and the download) instead of its last chunk.
        if let Err(e) = produced.and(written) {
            tracing::warn!("export ended early: {e}");
            let _ = out_tx.send(Err(e)).await;
        }
    });
    ExportStream {
        chunks: out_rx,
        rows,
    }
}

/// A CSV cell that a spreadsheet will not run: text starting with = + - @
/// or a tab or carriage return is taken for a formula (=HYPERLINK(…),
/// +cmd|…) when the file is opened, so it gets a leading apostrophe.
/// (.xlsx cells are written as strings and never run.)
fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Bytes on their way out, sent in chunks of about this size.
const CHUNK: usize = 256 * 1024;

/// An `io::Write` that sends what it gets in chunks; fails once the
/// receiver is gone.
struct ChunkOut<'a> {
    buf: Vec<u8>,
    out: &'a mpsc::Sender<Result<Vec<u8>>>,
}

impl ChunkOut<'_> {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.out
            .blocking_send(Ok(std::mem::take(&mut self.buf)))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::BrokenPipe, e.to_string()))
    }
}

impl Write for ChunkOut<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The writer: pages of rows in, the file out in chunks.
fn write_file(
    format: TableFormat,
    sheet: &str,
    headers: &[String],
    mut rows: mpsc::Receiver<Msg>,
    out: &mpsc::Sender<Result<Vec<u8>>>,
) -> Result<()> {
    let file_err = write_err;
    // The next page; None at the end; an error when the rows stopped
    // without their end, or nobody is downloading any more.
    let mut next = move || -> Result<Option<Page>> {
        if out.is_closed() {
            return Err(StoreError::file("the download was closed", "下载已中断"));
        }
        match rows.blocking_recv() {
            Some(msg) => Ok(msg),
            None => Err(StoreError::file(
                "the rows stopped before their end",
                "导出中断：数据未读完",
            )),
        }
    };
    match format {
        TableFormat::Csv => {
            let mut chunks = ChunkOut {
                buf: Vec::with_capacity(CHUNK),
                out,
            };
            // A BOM so that Excel opens the UTF-8 Chinese text correctly.
            chunks.write_all(b"\xEF\xBB\xBF").map_err(file_err)?;
            let mut csv = csv::Writer::from_writer(chunks);
            csv.write_record(headers).map_err(write_err)?;
            while let Some(page) = next()? {
                for cells in page {
                    csv.write_record(cells.iter().map(|c| csv_safe(c).as_bytes().to_vec()))
                        .map_err(write_err)?;
                }
            }
            let mut chunks = csv.into_inner().map_err(write_err)?;
            chunks.flush().map_err(file_err)
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
            let mut row = 0u32;
            while let Some(page) = next()? {
                for cells in page {
                    row += 1;
                    for (i, v) in cells.iter().enumerate() {
                        ws.write_string(row, column(i)?, xlsx_cell(v))
                            .map_err(xlsx_err)?;
                    }
                }
            }
            let bytes = book.save_to_buffer().map_err(xlsx_err)?;
            let mut chunks = ChunkOut {
                buf: Vec::new(),
                out,
            };
            for part in bytes.chunks(CHUNK) {
                chunks.write_all(part).map_err(file_err)?;
            }
            chunks.flush().map_err(file_err)
        }
    }
}

/// Excel holds at most 32,767 characters in a cell; a longer text (a
/// 40,000-character address) is cut with a visible mark rather than
/// failing the whole export.
pub const XLSX_CELL_CHARS: usize = 32_767;
const CUT_MARK: &str = "…[已截断 cut]";

fn xlsx_cell(v: &str) -> std::borrow::Cow<'_, str> {
    if v.len() <= XLSX_CELL_CHARS || v.chars().count() <= XLSX_CELL_CHARS {
        return std::borrow::Cow::Borrowed(v);
    }
    let keep = XLSX_CELL_CHARS - CUT_MARK.chars().count();
    let mut cut: String = v.chars().take(keep).collect();
    cut.push_str(CUT_MARK);
    std::borrow::Cow::Owned(cut)
}

/// A spreadsheet column number (Excel has 16,384).
fn column(i: usize) -> Result<u16> {
    u16::try_from(i).map_err(|e| StoreError::file(format!("too many columns: {e}"), "列数过多"))
}

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> StoreError {
    StoreError::file(format!("Excel: {e}"), format!("生成Excel失败：{e}"))
}

fn write_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::file(e.to_string(), format!("写出文件失败：{e}"))
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
    birth_year: Option<i32>,
    birth_enc: Option<Vec<u8>>,
    id_masked: Option<String>,
    id_enc: Option<Vec<u8>>,
    phone_masked: Option<String>,
    phone_enc: Option<Vec<u8>>,
    relation: Option<String>,
    tags: Option<String>,
    head_relation: Option<String>,
    landline_masked: Option<String>,
    landline_enc: Option<Vec<u8>>,
    person_id: Option<i64>,
}

/// Headers as the import reads them: Chinese, the language of the users.
pub fn headers(columns: &[crate::import::Column]) -> Vec<String> {
    columns.iter().map(|c| c.zh.to_string()).collect()
}

/// The registry page's filters, for its export: a tag as stored (a
/// built-in one by code, the district's as written) and part of a name.
#[derive(Debug, Clone, Default)]
pub struct RegistryOnly {
    pub tag: Option<String>,
    pub name: Option<String>,
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
        self.stream_registry(scope, format, unmasked)
            .await?
            .collect()
            .await
    }

    /// As [`Store::export_registry`], streamed. The audit entry of an
    /// unmasked export is written before the first byte.
    pub async fn stream_registry(
        &self,
        scope: &Scope,
        format: TableFormat,
        unmasked: Option<(&str, &str)>,
    ) -> Result<ExportStream> {
        self.stream_registry_of(scope, format, unmasked, &RegistryOnly::default())
            .await
    }

    /// As [`Store::stream_registry`], only the people the registry page
    /// lists with its filters (a tag, part of a name; the grid is the
    /// scope). Filtered, dwellings without such people are left out.
    pub async fn stream_registry_of(
        &self,
        scope: &Scope,
        format: TableFormat,
        unmasked: Option<(&str, &str)>,
        only: &RegistryOnly,
    ) -> Result<ExportStream> {
        if let Some((actor, reason)) = unmasked {
            let reason = crate::audit::check_reason(reason)?;
            let (lo, _) = scope.bounds();
            self.audit(
                actor,
                "registry.export_unmasked",
                &format!("scope:{lo}"),
                reason.trim(),
            )
            .await?;
        }
        let (store, scope, clear, only) = (
            self.clone(),
            scope.clone(),
            unmasked.is_some(),
            only.clone(),
        );
        Ok(spawn_export(
            format,
            "registry",
            {
                let mut h = headers(REGISTRY_COLUMNS);
                // Masked, that column holds an age band, not a birth date.
                if !clear {
                    for x in h.iter_mut().filter(|x| *x == "出生日期") {
                        *x = "年龄段".into();
                    }
                }
                h
            },
            move |mut sink| async move {
                store.registry_rows(&scope, clear, &only, &mut sink).await?;
                Ok(sink)
            },
        ))
    }

    async fn registry_rows(
        &self,
        scope: &Scope,
        clear: bool,
        only: &RegistryOnly,
        sink: &mut RowSink,
    ) -> Result<()> {
        let (lo, hi) = scope.bounds();
        let tag = only.tag.clone().unwrap_or_default();
        let name = only
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| format!("%{}%", crate::registry::escape_like(n)))
            .unwrap_or_default();
        let sql = format!(
            "SELECT g.code AS grid_code, c.name AS compound, b.name AS building, d.unit_no, d.room_no, d.floor_area,
                    h.household_no, p.name, p.gender, p.birth_year, p.birth_enc, p.id_masked, p.id_enc, p.phone_masked, p.phone_enc, p.relation,
                    (SELECT {} FROM person_tag t WHERE t.person_id = p.id) AS tags,
                    p.head_relation, p.landline_masked, p.landline_enc, p.id AS person_id
             FROM dwelling d
             JOIN building b ON b.id = d.building_id
             JOIN compound c ON c.id = b.compound_id
             JOIN org_unit g ON g.id = c.grid_id
             LEFT JOIN household h ON h.dwelling_id = d.id
             LEFT JOIN person p ON p.household_id = h.id
             WHERE d.scope_path >= $1 AND d.scope_path < $2 AND d.id > $3 AND d.id <= $4
               AND ($5 = '' OR EXISTS (SELECT 1 FROM person_tag t2 WHERE t2.person_id = p.id AND t2.tag = $5))
               AND ($6 = '' OR p.name LIKE $6 ESCAPE '\\')
             ORDER BY d.id, h.id, p.id",
            self.tags_agg()
        );
        let max_id: Option<i64> = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT MAX(id) FROM dwelling WHERE scope_path >= $1 AND scope_path < $2")
                .bind(&lo).bind(&hi).fetch_one(pool).await?
        });
        let max_id = max_id.unwrap_or(0);
        let this_year = crate::registry::this_year();
        let mut after = 0i64;
        while after < max_id {
            let upto = after + PAGE;
            let rows: Vec<ExportRow> = with_db!(&self.db, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(&lo).bind(&hi).bind(after).bind(upto).bind(&tag).bind(&name)
                    .fetch_all(pool).await?
            });
            for r in rows {
                // Masked, the birth date is a ten-year band, as on screen.
                let (id, phone, born, landline) = if clear {
                    (
                        r.id_enc
                            .map(|e| self.vault().open(Field::IdNumber, &e))
                            .transpose()?,
                        r.phone_enc
                            .map(|e| self.vault().open(Field::Phone, &e))
                            .transpose()?,
                        r.birth_enc
                            .map(|e| self.vault().open(Field::BirthDate, &e))
                            .transpose()?,
                        r.landline_enc
                            .map(|e| self.vault().open(Field::Phone, &e))
                            .transpose()?,
                    )
                } else {
                    (
                        r.id_masked,
                        r.phone_masked,
                        r.birth_year
                            .map(|y| linli_core::mask::age_band_label(y, this_year, true)),
                        r.landline_masked,
                    )
                };
                sink.row(vec![
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
                    born.unwrap_or_default(),
                    id.unwrap_or_default(),
                    phone.unwrap_or_default(),
                    r.relation
                        .and_then(|x| linli_core::registry::Relation::parse(&x).ok())
                        .map(|x| x.label_zh().to_string())
                        .unwrap_or_default(),
                    r.tags
                        .map(|t| {
                            // A tag outside the built-in list is its own label.
                            t.split(',')
                                .filter(|x| !x.is_empty())
                                .map(|x| {
                                    linli_core::registry::Tag::parse(x)
                                        .map_or(x.to_string(), |tag| tag.label_zh().to_string())
                                })
                                .collect::<Vec<_>>()
                                .join("、")
                        })
                        .unwrap_or_default(),
                    r.head_relation.unwrap_or_default(),
                    landline.unwrap_or_default(),
                    r.person_id
                        .map(crate::import::record_key)
                        .unwrap_or_default(),
                ])
                .await?;
            }
            after = upto;
        }
        Ok(())
    }

    /// Writes the compound ledger in scope.
    pub async fn export_compounds(
        &self,
        scope: &Scope,
        format: TableFormat,
    ) -> Result<(Vec<u8>, u64)> {
        self.stream_compounds(scope, format).collect().await
    }

    /// As [`Store::export_compounds`], streamed.
    pub fn stream_compounds(&self, scope: &Scope, format: TableFormat) -> ExportStream {
        let (store, scope) = (self.clone(), scope.clone());
        spawn_export(
            format,
            "compounds",
            headers(COMPOUND_COLUMNS),
            move |mut sink| async move {
                store.compound_rows(&scope, &mut sink).await?;
                Ok(sink)
            },
        )
    }

    async fn compound_rows(&self, scope: &Scope, sink: &mut RowSink) -> Result<()> {
        for c in self.compounds(scope, None).await? {
            let mode = linli_core::registry::ManagementMode::parse(&c.management_mode)
                .map(|m| m.label_zh().to_string())
                .unwrap_or(c.management_mode);
            sink.row(vec![
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
            ])
            .await?;
        }
        Ok(())
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
        self.stream_cases(scope, filter, format).collect().await
    }

    /// As [`Store::export_cases`], streamed.
    pub fn stream_cases(
        &self,
        scope: &Scope,
        filter: &crate::cases::CaseFilter,
        format: TableFormat,
    ) -> ExportStream {
        let (store, scope, filter) = (self.clone(), scope.clone(), filter.clone());
        let headers = CASE_HEADERS.iter().map(|h| h.to_string()).collect();
        spawn_export(format, "cases", headers, move |mut sink| async move {
            store.case_rows(&scope, &filter, &mut sink).await?;
            Ok(sink)
        })
    }

    /// The rows of a case export: the list's own query (same index, same
    /// order), a page of [`PAGE`] rows at a time by key, only the columns
    /// the ledger shows.
    async fn case_rows(
        &self,
        scope: &Scope,
        filter: &crate::cases::CaseFilter,
        sink: &mut RowSink,
    ) -> Result<()> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            created_at: i64,
            channel: String,
            category: Option<String>,
            title: String,
            description: String,
            address: String,
            grid: Option<String>,
            reporter_name: Option<String>,
            phone: Option<String>,
            state: String,
            unit: Option<String>,
            response_due: Option<i64>,
            due_at: Option<i64>,
            closed_at: Option<i64>,
            rating: Option<String>,
            overdue_at: Option<i64>,
        }
        let when = |ms: Option<i64>| ms.map(beijing_minute).unwrap_or_default();
        let now = crate::db::now_ms();
        let mut f = filter.clone();
        f.limit = 0;
        f.offset = 0;
        // Paged by key, newest first: the same cases as a list by deadline.
        if f.order == crate::cases::CaseOrder::DueFirst {
            f.order = crate::cases::CaseOrder::Newest;
            f.open = Some(true);
        }
        loop {
            let Some(mut q) = self.case_query(scope, &f, now).await? else {
                break;
            };
            let lim = q.w.int(PAGE);
            let (from, order) = (&q.from, q.order);
            let sql = format!(
                "SELECT c.id, c.created_at, c.channel, cat.name AS category, c.title, c.description, c.address, g.name AS grid,
                        c.reporter_name, c.reporter_phone_masked AS phone, c.state, u.name AS unit, c.response_due, c.due_at,
                        c.closed_at, c.rating, c.overdue_at
                   FROM {from}
                   LEFT JOIN category cat ON cat.code = c.category_code
                   LEFT JOIN org_unit g ON g.id = c.grid_id
                   LEFT JOIN handling_unit u ON u.id = c.unit_id{}
                  ORDER BY {order} LIMIT {lim}",
                q.w.where_sql()
            );
            let page: Vec<Row> = with_db!(&self.db, pool => {
                crate::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &q.w.args).fetch_all(pool).await?
            });
            let Some(last) = page.last() else { break };
            f.before_id = Some(last.id);
            let full = page.len() as i64 == PAGE;
            for r in page {
                let state = linli_core::case::State::parse(&r.state);
                let open = state.is_some_and(|s| s.is_open());
                let overdue = open && (r.overdue_at.is_some() || r.due_at.is_some_and(|d| d < now));
                sink.row(vec![
                    crate::cases::case_code(r.id, r.created_at),
                    when(Some(r.created_at)),
                    // Labels, as the page shows them (a code is no use in Excel).
                    linli_core::intake::Channel::parse(&r.channel)
                        .map_or(r.channel, |c| c.label_zh().to_string()),
                    r.category.unwrap_or_default(),
                    r.title,
                    r.description,
                    r.address,
                    r.grid.unwrap_or_default(),
                    r.reporter_name.unwrap_or_default(),
                    r.phone.unwrap_or_default(),
                    state.map(|s| s.label_zh().to_string()).unwrap_or(r.state),
                    r.unit.unwrap_or_default(),
                    when(r.response_due),
                    when(r.due_at),
                    when(r.closed_at),
                    r.rating
                        .map(|x| {
                            linli_core::case::Rating::parse(&x)
                                .map_or(x, |r| r.label_zh().to_string())
                        })
                        .unwrap_or_default(),
                    if overdue { "是" } else { "" }.to_string(),
                ])
                .await?;
            }
            if !full {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_cells_are_cut_to_excels_limit_with_a_mark() {
        let long = "楼".repeat(40_000);
        let cut = xlsx_cell(&long);
        assert_eq!(cut.chars().count(), XLSX_CELL_CHARS);
        assert!(cut.ends_with(CUT_MARK));
        assert_eq!(xlsx_cell("3栋"), "3栋");
    }

    fn rows(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[tokio::test]
    async fn csv_cells_never_run_as_formulas() {
        let stream = spawn_export(
            TableFormat::Csv,
            "t",
            rows(&["a", "b"]),
            |mut sink| async move {
                sink.row(rows(&[
                    "=HYPERLINK(\"http://x\",\"y\")",
                    "+cmd|' /C calc'!A0",
                ]))
                .await?;
                sink.row(rows(&["@SUM(1+1)", "-2+3"])).await?;
                sink.row(rows(&["王秀英", "13800138000"])).await?;
                Ok(sink)
            },
        );
        let (bytes, n) = stream.collect().await.unwrap();
        assert_eq!(n, 3);
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(lines[0], "a,b");
        assert_eq!(
            lines[1],
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'+cmd|' /C calc'!A0"
        );
        assert_eq!(lines[2], "'@SUM(1+1),'-2+3");
        assert_eq!(lines[3], "王秀英,13800138000");
    }

    #[tokio::test]
    async fn a_closed_download_stops_the_reader() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let mut stream = spawn_export(TableFormat::Csv, "t", rows(&["n"]), |mut sink| async move {
            // An endless area: only the closed download stops it.
            let mut n = 0u64;
            let r = loop {
                n += 1;
                if let Err(e) = sink.row(vec![format!("{n:>200}")]).await {
                    break e;
                }
            };
            let _ = done_tx.send(n);
            Err(r)
        });
        // Read a little, then go away.
        let first = stream.chunks.recv().await.unwrap().unwrap();
        assert!(!first.is_empty());
        drop(stream);
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), done_rx)
            .await
            .expect("the reader stopped")
            .unwrap();
        // Bounded: a few pages in flight, not the whole area.
        assert!(n < 50_000, "{n} rows read after the download closed");
    }

    #[tokio::test]
    async fn a_panicked_read_is_an_error_not_a_short_file() {
        let stream = spawn_export(
            TableFormat::Xlsx,
            "t",
            rows(&["n"]),
            |mut sink| async move {
                sink.row(rows(&["1"])).await?;
                if sink.rows.load(Ordering::SeqCst) == 1 {
                    panic!("a bug in the reader");
                }
                Ok(sink)
            },
        );
        assert!(stream.collect().await.is_err());
    }

    #[tokio::test]
    async fn a_failed_read_ends_the_stream_with_an_error() {
        let stream = spawn_export(TableFormat::Csv, "t", rows(&["n"]), |mut sink| async move {
            sink.row(rows(&["1"])).await?;
            Err::<RowSink, _>(StoreError::Config("the database went away".into()))
        });
        let e = stream.collect().await.unwrap_err();
        assert!(e.to_string().contains("went away"), "{e}");
    }
}
