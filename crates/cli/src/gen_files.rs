//! `linli gen --out DIR`: the synthetic city as import files, written as a
//! stream (one grid at a time), so any population fits in memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use linli_core::org::OrgKind;
use linli_core::synth::Synth;
use linli_store::import::{COMPOUND_COLUMNS, REGISTRY_COLUMNS};
use serde_json::json;

fn headers(cols: &[linli_store::import::Column]) -> Vec<&'static str> {
    cols.iter().map(|c| c.key).collect()
}

/// Writes grids.geojson, compounds.csv and registry.csv; returns people written.
pub fn write(dir: &Path, people: u64, seed: u64) -> Result<u64> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let today = chrono::Local::now().date_naive();
    let mut synth = Synth::new(people, seed, today);
    let plan = synth.plan().clone();

    let mut grids = BufWriter::new(File::create(dir.join("grids.geojson"))?);
    writeln!(grids, "{{\"type\":\"FeatureCollection\",\"features\":[")?;
    let name_of = |i: Option<usize>| i.map(|i| plan.nodes[i].name.clone()).unwrap_or_default();
    for (n, &g) in plan.grids.iter().enumerate() {
        let node = &plan.nodes[g];
        // grid › zone › community › subdistrict › district › city
        let zone = node.parent;
        let community = zone.and_then(|z| plan.nodes[z].parent);
        let sub = community.and_then(|c| plan.nodes[c].parent);
        let district = sub.and_then(|s| plan.nodes[s].parent);
        let city = district.and_then(|d| plan.nodes[d].parent);
        let zone_name = zone
            .filter(|z| plan.nodes[*z].kind == OrgKind::Zone)
            .map(|z| plan.nodes[z].name.clone());
        let ring: Vec<[f64; 2]> = node
            .polygon
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|&(x, y)| [x, y])
            .collect();
        let f = json!({
            "type": "Feature",
            "properties": {
                "code": node.code, "name": node.name, "zone": zone_name,
                "community_name": name_of(community), "subdistrict_name": name_of(sub),
                "district_name": name_of(district), "city_name": name_of(city),
            },
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        });
        let sep = if n + 1 == plan.grids.len() { "" } else { "," };
        writeln!(grids, "{f}{sep}")?;
    }
    writeln!(grids, "]}}")?;
    grids.flush()?;

    let mut registry = csv::Writer::from_path(dir.join("registry.csv"))?;
    registry.write_record(headers(REGISTRY_COLUMNS))?;
    let mut compounds = csv::Writer::from_path(dir.join("compounds.csv"))?;
    compounds.write_record(headers(COMPOUND_COLUMNS))?;
    let mut written = 0u64;
    for i in 0..plan.grids.len() {
        let code = plan.nodes[plan.grids[i]].code.clone();
        let grid = synth.grid(i);
        for c in &grid.compounds {
            compounds.write_record([
                code.as_str(),
                &c.name,
                &c.address,
                c.mode.code(),
                c.property_company.as_deref().unwrap_or(""),
                "",
                &c.facilities,
                &c.known_problems,
                &format!("{:.6}", c.lon),
                &format!("{:.6}", c.lat),
            ])?;
            for b in &c.buildings {
                for d in &b.dwellings {
                    let area = d.floor_area.to_string();
                    if d.households.is_empty() {
                        registry.write_record([
                            code.as_str(),
                            &c.name,
                            &b.name,
                            &d.unit_no,
                            &d.room_no,
                            &area,
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                        ])?;
                    }
                    for (hn, h) in d.households.iter().enumerate() {
                        for p in &h.people {
                            let tags: Vec<&str> = p.tags.iter().map(|t| t.code()).collect();
                            registry.write_record([
                                code.as_str(),
                                &c.name,
                                &b.name,
                                &d.unit_no,
                                &d.room_no,
                                &area,
                                &(hn + 1).to_string(),
                                &p.name,
                                p.gender.code(),
                                &p.birth_date.format("%Y-%m-%d").to_string(),
                                &p.id_number,
                                p.phone.as_deref().unwrap_or(""),
                                p.relation.code(),
                                &tags.join(","),
                                "",
                                "",
                                "",
                            ])?;
                            written += 1;
                        }
                    }
                }
            }
        }
    }
    registry.flush()?;
    compounds.flush()?;
    Ok(written)
}
