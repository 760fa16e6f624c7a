//! 12345 hotline batch import: a whole batch is checked before anything
//! is registered; tickets already received (same ticket number) are
//! skipped, so a batch can be sent again safely after any failure.

use chrono::Utc;

use crate::cases::{NewCase, NewRequest, Prepared};
use crate::import::{ImportReport, RowError, Table};
use crate::{Result, Scope, Store, StoreError};

/// Columns of a hotline CSV: the field names of a request.
const COLUMNS: [&str; 10] = [
    "external_id",
    "category",
    "title",
    "description",
    "address",
    "lon",
    "lat",
    "org_code",
    "reporter_name",
    "reporter_phone",
];

/// Reads hotline rows from a table (CSV); numbers that do not parse are
/// left for the check to report.
pub fn requests_from_table(t: &Table) -> Vec<(usize, NewRequest)> {
    let pos = |name: &str| {
        t.headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let idx: Vec<Option<usize>> = COLUMNS.iter().map(|c| pos(c)).collect();
    t.rows
        .iter()
        .map(|(row, cells)| {
            let get = |i: usize| {
                idx[i]
                    .and_then(|p| cells.get(p))
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            let num = |i: usize| get(i).map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
            (
                *row,
                NewRequest {
                    channel: "hotline_12345".into(),
                    external_id: get(0),
                    category: get(1),
                    title: get(2),
                    description: get(3).unwrap_or_default(),
                    address: get(4),
                    lon: num(5),
                    lat: num(6),
                    org_code: get(7),
                    reporter_name: get(8),
                    reporter_phone: get(9),
                },
            )
        })
        .collect()
}

fn row_error(row: usize, e: StoreError) -> RowError {
    match e {
        StoreError::Invalid { field, message } => RowError::en(row, field, message),
        other => RowError::en(row, "row", other.to_string()),
    }
}

impl Store {
    /// Registers a batch of hotline tickets. Every ticket needs its ticket
    /// number (external_id).
    pub async fn import_hotline(
        &self,
        scope: &Scope,
        actor: &str,
        rows: Vec<(usize, NewRequest)>,
    ) -> Result<ImportReport> {
        let now = Utc::now();
        let mut errors = Vec::new();
        let mut ready = Vec::new();
        let mut skipped = 0u64;
        let mut seen = std::collections::HashMap::new();
        for (row, mut req) in rows {
            req.channel = "hotline_12345".into();
            match req
                .external_id
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
            {
                None => {
                    errors.push(RowError::en(
                        row,
                        "external_id",
                        "the hotline ticket number is required",
                    ));
                    continue;
                }
                Some(e) => {
                    if let Some(first) = seen.insert(e.to_string(), row) {
                        errors.push(RowError::en(
                            row,
                            "external_id",
                            format!("ticket {e} is also on row {first}"),
                        ));
                        continue;
                    }
                }
            }
            if req.lon.is_some_and(f64::is_nan) || req.lat.is_some_and(f64::is_nan) {
                errors.push(RowError::en(row, "lon", "lon and lat must be numbers"));
                continue;
            }
            match self.prepare_intake(scope, &req, now).await {
                Ok(Prepared::Known(_)) => skipped += 1,
                Ok(Prepared::New(p)) => ready.push(p),
                Err(e) => errors.push(row_error(row, e)),
            }
        }
        let rows = ready.len() + usize::try_from(skipped).unwrap_or(usize::MAX) + errors.len();
        if !errors.is_empty() {
            return Ok(ImportReport {
                rows,
                committed: false,
                errors,
                ..Default::default()
            });
        }
        let mut report = ImportReport {
            rows,
            committed: true,
            ..Default::default()
        };
        // The whole batch in one transaction: all rows or none.
        let items: Vec<(&str, &NewCase)> = ready.iter().map(|p| (actor, &**p)).collect();
        let ids = self.write_intakes(&items).await?;
        report.created.insert("cases", ids.len() as u64);
        if skipped > 0 {
            report.updated.insert("already_received", skipped);
        }
        Ok(report)
    }
}
