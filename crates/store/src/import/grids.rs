//! Grid polygons (网格) from GeoJSON.

use std::collections::HashMap;

use linli_core::org::{GridCode, OrgKind};

use crate::audit::append_in_tx;
use crate::caches::{Cached, changed_in_tx};
use crate::db::BeginWrite;
use crate::org::{OrgUnit, insert_org_in_tx};
use crate::{Msg, Result, Scope, Store, with_db};

use super::*;

/// Overlaps of grids below this many square metres are slivers of
/// digitising (shared edges drawn twice), not reported.
pub const DEFAULT_OVERLAP_TOLERANCE_M2: f64 = 1.0;

impl Store {
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
        self.import_grids_with(scope, actor, text, DEFAULT_OVERLAP_TOLERANCE_M2)
            .await
    }

    /// [`Store::import_grids`], with the area below which two grids'
    /// overlap is a digitising sliver and not reported.
    pub async fn import_grids_with(
        &self,
        scope: &Scope,
        actor: &str,
        text: &str,
        overlap_tolerance_m2: f64,
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
                            message_zh: format!(
                                "第 {feature} 个要素：{}",
                                linli_geo::message_zh(&message)
                            ),
                            message: message.clone(),
                        },
                        other => {
                            let en = other.to_string();
                            let zh = format!("文件无法读取：{}", linli_geo::message_zh(&en));
                            RowError::new(0, "file", Msg::new(en, zh))
                        }
                    })
                    .collect();
                return Ok(ImportReport::refused_rows(0, errors));
            }
        };
        let mut errors = Vec::new();
        let mut seen = HashMap::new();
        let mut parsed = Vec::new();
        let extent = self.city_extent().await?;
        for (i, f) in features.iter().enumerate() {
            let row = i + 1;
            if let Some(why) = linli_geo::outside_extent(&f.shape, extent) {
                let swapped = why.contains("swapped");
                errors.push(RowError {
                    row,
                    field: "geometry".into(),
                    message: format!("grid {} {why}", f.code),
                    message_zh: format!(
                        "网格 {} {}{}",
                        f.code,
                        linli_geo::message_zh(&why),
                        if swapped {
                            ""
                        } else {
                            "：请确认坐标为 WGS-84 经纬度（不是投影坐标的米数，也不是别的城市）"
                        }
                    ),
                });
                continue;
            }
            match GridCode::parse(&f.code) {
                Ok(code) => {
                    if let Some(first) = seen.insert(code.as_str().to_string(), row) {
                        errors.push(RowError::new(
                            row,
                            "code",
                            Msg::new(
                                format!("grid {} is also feature {first}", f.code),
                                format!("网格 {} 与第 {first} 个要素重复", f.code),
                            ),
                        ));
                    }
                    if *scope != Scope::Everything
                        && self.org_by_code(scope, code.community()).await.is_err()
                    {
                        errors.push(RowError::new(
                            row,
                            "code",
                            Msg::new(
                                format!("community {} is not in your area", code.community()),
                                format!("社区 {} 不在您的范围内", code.community()),
                            ),
                        ));
                    }
                    parsed.push((code, f));
                }
                Err(e) => errors.push(RowError::new(row, "code", e)),
            }
        }
        if !errors.is_empty() {
            return Ok(ImportReport::refused_rows(features.len(), errors));
        }
        let mut report = ImportReport {
            rows: features.len(),
            committed: true,
            ..Default::default()
        };
        for (i, f) in features.iter().enumerate() {
            for w in &f.warnings {
                report.notices.push(Notice::new(
                    Some(i + 1),
                    format!("feature {}: {w}", i + 1),
                    format!("第 {} 个要素：{}", i + 1, linli_geo::message_zh(w)),
                ));
            }
        }
        // Grids that overlap are kept (a point there goes to the grid with
        // the lower id) but named, with the area they share.
        let shapes: Vec<&linli_geo::Shape<f64>> = features.iter().map(|f| &f.shape).collect();
        for o in linli_geo::overlaps(&shapes, overlap_tolerance_m2) {
            let (a, b) = (&features[o.a - 1].code, &features[o.b - 1].code);
            let m2 = o.area_m2.round();
            report.notices.push(Notice::new(
                Some(o.b),
                format!("features {} and {} (grids {a} and {b}) overlap by {m2} m²; a point there belongs to the grid imported first", o.a, o.b),
                format!("第 {} 与第 {} 个要素（网格 {a} 与 {b}）重叠约 {m2} 平方米；重叠处的点归先导入的网格", o.a, o.b),
            ));
        }
        // And with the grids already stored (those the file does not
        // replace), the neighbours' too: a new grid drawn over another
        // area's grid is named, though not that grid's code.
        // Only the ids of the caller's grids: their shapes come with all the
        // others' below.
        let mine: std::collections::HashSet<i64> = self
            .org_units(scope, Some(OrgKind::Grid))
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
        let stored: Vec<(Option<String>, linli_geo::Shape<f64>)> = self
            .grid_shapes(&Scope::Everything)
            .await?
            .into_iter()
            .filter(|g| !seen.contains_key(&g.code))
            .filter_map(|g| {
                let shape = linli_geo::shape_from_json(&g.geometry).ok()?;
                Some((mine.contains(&g.id).then_some(g.code), shape))
            })
            .collect();
        let stored_shapes: Vec<&linli_geo::Shape<f64>> = stored.iter().map(|(_, s)| s).collect();
        for o in linli_geo::overlaps_with(&shapes, &stored_shapes, overlap_tolerance_m2) {
            let a = &features[o.a - 1].code;
            let (b_en, b_zh) = match &stored[o.b - 1].0 {
                Some(code) => (
                    format!("the stored grid {code}"),
                    format!("已有网格 {code}"),
                ),
                None => (
                    "a grid of another area".to_string(),
                    "其他区域的已有网格".to_string(),
                ),
            };
            let m2 = o.area_m2.round();
            report.notices.push(Notice::new(
                Some(o.a),
                format!("feature {} (grid {a}) overlaps {b_en} by {m2} m²; a point there belongs to the grid imported first", o.a),
                format!("第 {} 个要素（网格 {a}）与{b_zh}重叠约 {m2} 平方米；重叠处的点归先导入的网格", o.a),
            ));
        }
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
            changed_in_tx!(tx, Cached::Grids);
            changed_in_tx!(tx, Cached::RegistryCounts);
            tx.commit().await?;
        });
        self.changed_committed(Cached::Grids).await?;
        self.changed_committed(Cached::RegistryCounts).await?;
        Ok(report)
    }
}
