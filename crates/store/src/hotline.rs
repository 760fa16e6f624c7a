//! 12345 hotline batch import: a whole batch is checked before anything
//! is registered; tickets already received (same ticket number) are
//! skipped, so a batch can be sent again safely after any failure — and a
//! ticket sent again with different content is reported as a conflict.
//!
//! A batch comes as the platform exports it (工单编号, 来电时间, 诉求人,
//! 联系电话, 诉求内容, 诉求地址, 问题分类, 承办单位, 办理时限 …, GBK CSV or
//! Excel; see [`crate::import::read_ledger`]) or as a JSON array.

use chrono::{DateTime, TimeZone, Utc};
use linli_core::ids::CaseId;
use linli_core::period::beijing;
use linli_core::{ledger, mask};

use crate::cases::{NewCase, NewRequest, Prepared};
use crate::import::{ImportReport, Notice, RowError, Table};
use crate::{Msg, Result, Scope, Store, StoreError};

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

/// What a ticket's 承办单位 and 办理时限 ask of its case once registered.
struct Plan {
    row: usize,
    unit: Option<String>,
    given_due: Option<i64>,
}

/// The deadline a 办理时限 gives, counted from the call.
fn given_deadline(
    cal: &linli_core::calendar::Calendar,
    called: DateTime<Utc>,
    limit: ledger::TimeLimit,
) -> Option<i64> {
    match limit {
        ledger::TimeLimit::Until(t) => beijing()
            .from_local_datetime(&t)
            .single()
            .map(|t| t.timestamp_millis()),
        ledger::TimeLimit::Within(l) => Some(cal.deadline(called, l).timestamp_millis()),
        ledger::TimeLimit::Hours(h) => Some(called.timestamp_millis() + i64::from(h) * 3_600_000),
    }
}

/// The community or subdistrict a 承办单位 names: the longest name of the
/// area's org units that the text contains (grids are not 承办单位).
fn org_named<'a>(list: &'a [crate::org::OrgUnit], text: &str) -> Option<&'a crate::org::OrgUnit> {
    let text = text.trim();
    list.iter()
        .filter(|o| {
            o.kind != "grid" && o.name.chars().count() >= 2 && text.contains(o.name.as_str())
        })
        .max_by_key(|o| o.name.chars().count())
}

fn row_error(row: usize, e: StoreError) -> RowError {
    match e {
        StoreError::Invalid { field, message } => RowError::new(row, field, message),
        StoreError::Conflict(m) | StoreError::File(m) => RowError::new(row, "row", m),
        other => {
            let en = other.to_string();
            RowError::new(
                row,
                "row",
                Msg::new(en.clone(), format!("此行无法导入：{en}")),
            )
        }
    }
}

impl Store {
    /// A category as a 12345 export writes it: linli's code, a leaf's
    /// name (物业服务), or a path of names (城乡建设/物业管理/物业服务).
    async fn category_code(
        &self,
        text: &str,
        mapping: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<String>> {
        let list = self.category_list().await?;
        let text = ledger::half_width(text.trim()).into_owned();
        if list.iter().any(|c| c.code == text) {
            return Ok(Some(text));
        }
        // The staff's mapping, as the platform writes the category.
        if let Some(code) = mapping.get(&text) {
            return Ok(Some(code.clone()));
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
        let mapping = self.hotline_categories().await?;
        // Read once per batch: the calendar is a copy of the cached one.
        let calendar = self.calendar();
        let mut plans: Vec<Plan> = Vec::new();
        let mut places: Option<Vec<crate::org::OrgUnit>> = None;
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
            if let Some(c) = t.req.category.clone() {
                match self.category_code(&c, &mapping).await? {
                    Some(code) => t.req.category = Some(code),
                    None => fail(
                        &mut errors,
                        "category",
                        format!(
                            "'{c}' is not a category's code, name or path of names, nor in the 12345 category mapping; add it there (PUT /api/v1/hotline-categories) or correct the cell"
                        ),
                        format!(
                            "问题分类“{c}”既不是分类编码、名称或名称路径，也不在 12345 分类对照表中；请在对照表中添加，或更正该单元格"
                        ),
                    ),
                }
            }
            if t.req.lon.is_some_and(f64::is_nan) || t.req.lat.is_some_and(f64::is_nan) {
                fail(
                    &mut errors,
                    "lon",
                    "lon and lat must be numbers".into(),
                    "经纬度应为数字".into(),
                );
            }
            // 办理时限: the platform's deadline, counted from the call.
            let given_due = match t.time_limit.as_deref() {
                None => None,
                Some(raw) => match ledger::time_limit(raw) {
                    Some(limit) => given_deadline(&calendar, called, limit),
                    None => {
                        notices.push(Notice::new(
                            Some(row),
                            format!("row {row}: the time limit '{raw}' is not a date, working days or hours; the category's limit applies"),
                            format!("第 {row} 行：办理时限“{raw}”不是日期、工作日或小时数，按问题分类的时限计算"),
                        ));
                        None
                    }
                },
            };
            // 承办单位 that names a community or subdistrict of the area
            // places a ticket that has no point of its own.
            if let Some(u) = &t.unit
                && t.req.lon.is_none()
                && t.req
                    .org_code
                    .as_deref()
                    .is_none_or(|c| c.trim().is_empty())
            {
                if places.is_none() {
                    places = Some(self.org_units(scope, None).await?);
                }
                if let Some(o) = places.as_deref().and_then(|list| org_named(list, u)) {
                    t.req.org_code = Some(o.code.clone());
                }
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
                Ok(Prepared::New(p)) => {
                    ready.push(p);
                    plans.push(Plan {
                        row,
                        unit: t.unit.clone(),
                        given_due,
                    });
                }
                Err(e) => errors.push(row_error(row, e)),
            }
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
        self.apply_assignments(scope, actor, &ids, &plans, &mut report)
            .await?;
        if skipped > 0 {
            report.unchanged.insert("already_received", skipped);
        }
        if conflicts > 0 {
            report.unchanged.insert("conflicts", conflicts);
        }
        Ok(report)
    }

    /// After a batch is registered: a ticket whose 承办单位 is a handling
    /// unit of the area is opened and dispatched to it; one with a
    /// 办理时限 is opened with that deadline (the category's limit only
    /// when none is given). These are ordinary, audited steps taken after
    /// the batch's commit: one that cannot be taken leaves its case
    /// registered for dispatch here, and the report says which and why.
    async fn apply_assignments(
        &self,
        scope: &Scope,
        actor: &str,
        ids: &[i64],
        plans: &[Plan],
        report: &mut ImportReport,
    ) -> Result<()> {
        use linli_core::case::Action;
        if plans
            .iter()
            .all(|p| p.unit.is_none() && p.given_due.is_none())
        {
            return Ok(());
        }
        let units = self.units(scope).await?;
        let (mut opened_given, mut opened_computed, mut dispatched) = (0u64, 0u64, 0u64);
        for (id, plan) in ids.iter().zip(plans) {
            let row = plan.row;
            if plan.unit.is_none() && plan.given_due.is_none() {
                continue;
            }
            let unit = plan
                .unit
                .as_deref()
                .and_then(|u| units.iter().find(|h| h.name == u.trim()));
            if plan.given_due.is_none() && unit.is_none() {
                // A 承办单位 that is not a handling unit here (often the
                // subdistrict itself): kept on the case, dispatched here.
                continue;
            }
            let case = self.case_plain(scope, *id).await?;
            if case.row.state != "classified" {
                report.notices.push(Notice::new(
                    Some(row),
                    format!("row {row}: case {} has no category, so it is not opened or dispatched; classify it, then dispatch", case.row.code),
                    format!("第 {row} 行：工单 {} 没有问题分类，未立案派遣；请先分类再派遣", case.row.code),
                ));
                continue;
            }
            let opened = match self
                .act_given(
                    scope,
                    actor,
                    *id,
                    case.row.version,
                    &Action::Open,
                    Utc::now(),
                    plan.given_due,
                )
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    report.notices.push(Notice::new(
                        Some(row),
                        format!(
                            "row {row}: case {} was not opened ({}); it waits for dispatch here",
                            case.row.code,
                            e.message().en
                        ),
                        format!(
                            "第 {row} 行：工单 {} 未能立案（{}），等待在本系统派遣",
                            case.row.code,
                            e.message().zh
                        ),
                    ));
                    continue;
                }
            };
            if plan.given_due.is_some() {
                opened_given += 1;
            } else {
                opened_computed += 1;
            }
            if let Some(u) = unit {
                match self
                    .act(
                        scope,
                        actor,
                        CaseId(*id),
                        opened.row.version,
                        &Action::Dispatch { unit: u.id },
                    )
                    .await
                {
                    Ok(_) => dispatched += 1,
                    Err(e) => report.notices.push(Notice::new(
                        Some(row),
                        format!(
                            "row {row}: case {} was not dispatched to {} ({}); dispatch it here",
                            case.row.code,
                            u.name,
                            e.message().en
                        ),
                        format!(
                            "第 {row} 行：工单 {} 未能派遣至 {}（{}），请在本系统派遣",
                            case.row.code,
                            u.name,
                            e.message().zh
                        ),
                    )),
                }
            }
        }
        let unmatched = plans
            .iter()
            .filter_map(|p| p.unit.as_deref())
            .filter(|u| !units.iter().any(|h| h.name == u.trim()))
            .count();
        report.notices.push(Notice::new(
            None,
            format!(
                "承办单位 and 办理时限: {dispatched} cases dispatched to the handling unit the ticket names; {opened_given} opened with the ticket's time limit, {opened_computed} with the limit their category gives (no time limit on the ticket); {unmatched} tickets name a 承办单位 that is not a handling unit of your area (kept on the case as written, dispatch here)"
            ),
            format!(
                "承办单位与办理时限：{dispatched} 件按工单所列承办单位派遣；{opened_given} 件按工单的办理时限立案，{opened_computed} 件工单未填时限、按问题分类的时限立案；{unmatched} 张工单的承办单位不是本辖区的处置单位（已按原文随工单保存，请在本系统派遣）"
            ),
        ));
        Ok(())
    }
}
