//! 12345 hotline batch import: a whole batch is checked before anything
//! is registered; tickets already received (same ticket number) are
//! skipped, so a batch can be sent again safely after any failure — and a
//! ticket sent again with different content is reported as a conflict.
//!
//! A batch comes as the platform exports it (工单编号, 来电时间, 诉求人,
//! 联系电话, 诉求内容, 诉求地址, 问题分类, 承办单位, 办理时限 …, GBK CSV or
//! Excel; see [`crate::import::read_ledger`]) or as a JSON array.

use chrono::{DateTime, TimeZone, Utc};
use linli_core::period::beijing;
use linli_core::{ledger, mask};

use crate::cases::{NewCase, NewRequest, Prepared};
use crate::import::{ImportReport, Notice, RowError, Table};
use crate::{Result, Scope, Store, StoreError};

/// One ticket of a batch: the request, and what a 12345 export adds.
#[derive(Debug, Clone, Default)]
pub struct Ticket {
    pub req: NewRequest,
    /// 来电时间 as written (Beijing time): the case's registration time.
    pub called_at: Option<String>,
    /// 承办单位 and 办理时限 as written.
    pub unit: Option<String>,
    pub time_limit: Option<String>,
    /// Fields whose cell was an Excel number that lost digits.
    pub rounded: Vec<&'static str>,
}

impl From<NewRequest> for Ticket {
    fn from(req: NewRequest) -> Self {
        Ticket {
            req,
            ..Default::default()
        }
    }
}

/// Reads tickets from a table read with [`crate::import::read_ledger`]
/// (recognised columns carry their field keys) or with linli's own field
/// names as headers. Numbers that do not parse are left for the check.
pub fn tickets_from_table(t: &Table) -> Vec<(usize, Ticket)> {
    let pos = |name: &str| {
        t.headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    t.rows
        .iter()
        .map(|(row, cells)| {
            let get = |name: &str| {
                pos(name)
                    .and_then(|p| cells.get(p))
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            let num = |name: &str| get(name).map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
            let rounded = ["external_id", "reporter_phone"]
                .into_iter()
                .filter(|f| pos(f).is_some_and(|p| t.rounded.contains(&(*row, p))))
                .collect();
            (
                *row,
                Ticket {
                    req: NewRequest {
                        channel: "hotline_12345".into(),
                        external_id: get("external_id"),
                        category: get("category"),
                        title: get("title"),
                        description: get("description").unwrap_or_default(),
                        address: get("address"),
                        lon: num("lon"),
                        lat: num("lat"),
                        org_code: get("org_code"),
                        reporter_name: get("reporter_name"),
                        reporter_phone: get("reporter_phone"),
                        ..Default::default()
                    },
                    called_at: get("called_at"),
                    unit: get("unit"),
                    time_limit: get("time_limit"),
                    rounded,
                },
            )
        })
        .collect()
}

/// Reads hotline rows as requests (kept for callers that have only those).
pub fn requests_from_table(t: &Table) -> Vec<(usize, NewRequest)> {
    tickets_from_table(t)
        .into_iter()
        .map(|(row, t)| (row, t.req))
        .collect()
}

fn row_error(row: usize, e: StoreError) -> RowError {
    match e {
        StoreError::Invalid { field, message } => RowError::en(row, field, message),
        other => RowError::en(row, "row", other.to_string()),
    }
}

impl Store {
    /// A category as a 12345 export writes it: linli's code, a leaf's
    /// name (物业服务), or a path of names (城乡建设/物业管理/物业服务).
    async fn category_code(&self, text: &str) -> Result<Option<String>> {
        let list = self.category_list().await?;
        let text = ledger::half_width(text.trim()).into_owned();
        if list.iter().any(|c| c.code == text) {
            return Ok(Some(text));
        }
        let parts: Vec<&str> = text
            .split(['/', '>', '＞', '-', '—', '|', '\\'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let Some(leaf) = parts.last() else {
            return Ok(None);
        };
        let found: Vec<_> = list
            .iter()
            .filter(|c| c.is_leaf() && c.name == *leaf)
            .collect();
        // A leaf name used under two groups needs its path to tell them apart.
        let pick = match found.as_slice() {
            [one] => Some(one.code.clone()),
            many if parts.len() > 1 => many
                .iter()
                .find(|c| {
                    let parent = c
                        .parent
                        .as_deref()
                        .and_then(|p| list.iter().find(|x| x.code == p));
                    parent.is_some_and(|p| p.name == parts[parts.len() - 2])
                })
                .map(|c| c.code.clone()),
            _ => None,
        };
        Ok(pick)
    }

    /// Registers a batch of hotline tickets read from a file, with the
    /// file's column mapping and notes in the report.
    pub async fn import_hotline_table(
        &self,
        scope: &Scope,
        actor: &str,
        table: &Table,
    ) -> Result<ImportReport> {
        let mut report = self
            .import_hotline(scope, actor, tickets_from_table(table))
            .await?;
        report.mapping = table.mapping.clone();
        let mut notices = table.notices.clone();
        notices.append(&mut report.notices);
        report.notices = notices;
        Ok(report)
    }

    /// Registers a batch of hotline tickets. Every ticket needs its ticket
    /// number (external_id); every problem of every row is reported.
    pub async fn import_hotline(
        &self,
        scope: &Scope,
        actor: &str,
        rows: Vec<(usize, Ticket)>,
    ) -> Result<ImportReport> {
        let now = Utc::now();
        let mut errors = Vec::new();
        let mut notices = Vec::new();
        let mut ready = Vec::new();
        let mut skipped = 0u64;
        let mut conflicts = 0u64;
        let mut assigned = Vec::new();
        let mut seen = std::collections::HashMap::new();
        let total = rows.len();
        for (row, mut t) in rows {
            let before = errors.len();
            let fail = |errors: &mut Vec<RowError>, field: &str, en: String, zh: String| {
                errors.push(RowError {
                    row,
                    field: field.into(),
                    message: en,
                    message_zh: zh,
                });
            };
            t.req.channel = "hotline_12345".into();
            for f in &t.rounded {
                fail(
                    &mut errors,
                    f,
                    "stored by Excel as a number and rounded: the digits after the 15th are lost. Export the batch again with this column as text".into(),
                    "该单元格在 Excel 中是数字格式，第 15 位以后的数字已被舍入丢失；请把该列设为文本后重新导出".into(),
                );
            }
            // Ticket numbers are compared exactly as written.
            match t
                .req
                .external_id
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
            {
                None => fail(
                    &mut errors,
                    "external_id",
                    "the hotline ticket number is required".into(),
                    "工单编号必填".into(),
                ),
                Some(e) => {
                    if let Some(first) = seen.insert(e.to_string(), row) {
                        fail(
                            &mut errors,
                            "external_id",
                            format!("ticket {e} is also on row {first}"),
                            format!("工单 {e} 与第 {first} 行重复"),
                        );
                    }
                }
            }
            let called: DateTime<Utc> = match t.called_at.as_deref() {
                None => now,
                Some(raw) => match ledger::date_time(raw)
                    .and_then(|d| beijing().from_local_datetime(&d).single())
                {
                    Some(d) if d.with_timezone(&Utc) <= now + chrono::Duration::minutes(10) => {
                        d.with_timezone(&Utc)
                    }
                    Some(_) => {
                        fail(
                            &mut errors,
                            "called_at",
                            format!("'{raw}' is in the future"),
                            format!("来电时间“{raw}”晚于现在"),
                        );
                        now
                    }
                    None => {
                        fail(
                            &mut errors,
                            "called_at",
                            format!("'{raw}' is not a date and time (2026-11-02 09:15)"),
                            format!("来电时间“{raw}”不是日期时间（如 2026-11-02 09:15）"),
                        );
                        now
                    }
                },
            };
            if let Some(p) = t.req.reporter_phone.clone() {
                let p = ledger::half_width(&p).into_owned();
                if p.contains('*') {
                    notices.push(Notice::new(
                        Some(row),
                        format!("row {row}: the caller's number is masked ({p}) and is kept as not given"),
                        format!("第 {row} 行：来电号码已脱敏（{p}），按未提供保存"),
                    ));
                    t.req.reporter_phone = None;
                } else {
                    let phones = ledger::phones(&p);
                    match (phones.mobile, phones.landline) {
                        (Some(m), _) => t.req.reporter_phone = Some(m),
                        (None, Some(l)) => {
                            notices.push(Notice::new(
                                Some(row),
                                format!("row {row}: the landline {} is kept as another contact (sealed; shown on an audited view)", mask::landline(&l)),
                                format!("第 {row} 行：固定电话 {} 作为其他联系方式加密保存（查看原文时显示并记入审计）", mask::landline(&l)),
                            ));
                            t.req.other_contact = Some(format!("landline: {l}"));
                            t.req.reporter_phone = None;
                        }
                        (None, None) => {}
                    }
                }
            }
            if let Some(c) = t.req.category.clone()
                && let Some(code) = self.category_code(&c).await?
            {
                t.req.category = Some(code);
            }
            if t.req.lon.is_some_and(f64::is_nan) || t.req.lat.is_some_and(f64::is_nan) {
                fail(
                    &mut errors,
                    "lon",
                    "lon and lat must be numbers".into(),
                    "经纬度应为数字".into(),
                );
            }
            if t.unit.is_some() || t.time_limit.is_some() {
                assigned.push(row);
            }
            // Kept as the platform wrote them, on the case's register event.
            if let Some(u) = &t.unit {
                t.req.details.insert("hotline.unit".into(), u.clone());
            }
            if let Some(l) = &t.time_limit {
                t.req.details.insert("hotline.time_limit".into(), l.clone());
            }
            if errors.len() > before {
                continue;
            }
            match self.prepare_intake(scope, &t.req, called).await {
                Ok(Prepared::Known(id)) => {
                    // Sent before: the same text is a repeat, another text a conflict.
                    let stored = match self.case(scope, id).await {
                        Ok(c) => c,
                        Err(StoreError::NotFound(_) | StoreError::OutOfScope(_)) => {
                            let ext = t.req.external_id.clone().unwrap_or_default();
                            fail(
                                &mut errors,
                                "external_id",
                                format!("ticket {ext} was received before, outside your area"),
                                format!("工单 {ext} 此前已导入，但不在您的辖区内"),
                            );
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let sent = mask::redact(t.req.description.trim()).text;
                    if stored.row.description.trim() == sent.trim() {
                        skipped += 1;
                    } else {
                        conflicts += 1;
                        let ext = t.req.external_id.clone().unwrap_or_default();
                        notices.push(Notice::new(
                            Some(row),
                            format!("row {row}: ticket {ext} was received before with other content (case {}); it is not changed — compare the two and correct the case by hand", stored.row.code),
                            format!("第 {row} 行：工单 {ext} 此前已导入，但内容不同（工单 {}）；未作改动，请人工核对两者并更正", stored.row.code),
                        ));
                    }
                }
                Ok(Prepared::New(p)) => ready.push(p),
                Err(e) => errors.push(row_error(row, e)),
            }
        }
        if !assigned.is_empty() {
            notices.push(Notice::new(
                None,
                format!("{} tickets name a handling unit (承办单位) or time limit (办理时限): both are kept with the case as written (shown on its page) but not applied yet; the cases are registered for dispatch here, with the deadlines the categories give", assigned.len()),
                format!("{} 张工单填写了承办单位或办理时限：已按原文随工单保存（工单页面可见），但目前尚未采用，工单登记后在本系统派遣，时限按问题分类计算", assigned.len()),
            ));
        }
        if !errors.is_empty() {
            return Ok(ImportReport {
                rows: total,
                committed: false,
                errors,
                notices,
                ..Default::default()
            });
        }
        let mut report = ImportReport {
            rows: total,
            committed: true,
            notices,
            ..Default::default()
        };
        // The whole batch in one transaction: all rows or none.
        let items: Vec<(&str, &NewCase)> = ready.iter().map(|p| (actor, &**p)).collect();
        let ids = self.write_intakes(&items).await?;
        report.created.insert("cases", ids.len() as u64);
        if skipped > 0 {
            report.unchanged.insert("already_received", skipped);
        }
        if conflicts > 0 {
            report.unchanged.insert("conflicts", conflicts);
        }
        Ok(report)
    }
}
