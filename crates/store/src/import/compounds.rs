//! The compound ledger (一院一档) from a file.

use std::collections::{HashMap, HashSet};

use linli_core::registry::ManagementMode;
use linli_core::validate;

use crate::audit::append_in_tx;
use crate::caches::{Cached, changed_in_tx};
use crate::db::BeginWrite;
use crate::db::now_ms;
use crate::{Result, Scope, Store, with_db};

use super::*;

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

impl Store {
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
            Err(e) => return Ok(ImportReport::refused(table, e)),
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
                        c.fail(
                            key,
                            format!("'{v}' is not a WGS-84 {key}"),
                            format!("“{v}”不是有效的 WGS-84 经纬度"),
                        );
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
                    c.fail(
                        "grid_code",
                        format!("no grid {code} in your area"),
                        format!("您的辖区内没有网格 {code}"),
                    );
                }
                g
            } else if let (Some(x), Some(y)) = (lon, lat) {
                let g = index.locate(x, y).and_then(|id| by_id.get(&id).copied());
                if g.is_none() {
                    c.fail(
                        "lon",
                        format!("({x}, {y}) lies in no grid of your area"),
                        format!("坐标 ({x}, {y}) 不在您辖区的任何网格内"),
                    );
                }
                g
            } else {
                c.fail(
                    "grid_code",
                    "is required unless lon and lat are given",
                    "网格编码必填（或填写经度和纬度）",
                );
                None
            };
            if let Some(g) = grid
                && !seen.insert((g.id, name.clone()))
            {
                c.fail(
                    "name",
                    format!("compound '{name}' appears twice for the same grid"),
                    format!("同一网格中小区“{name}”出现了两次"),
                );
            }
            let mode_is_company = mode == Some(ManagementMode::PropertyCompany);
            let company = layout.get(cells, "property_company").to_string();
            if mode_is_company && company.is_empty() {
                c.fail(
                    "property_company",
                    "is required when the compound has a property company",
                    "管理模式为物业管理时，物业公司必填",
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
            return Ok(ImportReport::refused(table, errors));
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
            changed_in_tx!(tx, Cached::RegistryCounts);
            tx.commit().await?;
        });
        self.changed_committed(Cached::RegistryCounts).await?;
        Ok(report)
    }
}
