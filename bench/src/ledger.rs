//! A real-shaped community population ledger (人口信息台账) for the import
//! benchmark, as an .xlsx workbook and as a GBK CSV: a title row, a date
//! row, a two-row merged header with the names ledgers use, compound cells
//! merged down their rows (blank below the first in the CSV), and the
//! usual mess in the values (full-width digits, spaces in ID numbers,
//! 15-digit ID numbers, two numbers in one cell, Chinese dates, 男性,
//! 703室, families sharing a flat), then total and signature rows.

use std::path::Path;

use anyhow::{Context, Result};
use linli_core::rng::SplitMix64;
use linli_core::validate::resident_id_check_char;
use rust_xlsxwriter::{Format, Workbook};
use serde_json::json;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "欧阳",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "文",
];
const HEADER: [&str; 14] = [
    "序号",
    "姓名",
    "性别",
    "民族",
    "身份证号码",
    "出生日期",
    "联系电话",
    "网格编码",
    "小区",
    "楼栋",
    "单元",
    "房号",
    "与户主关系",
    "人员类别",
];
const RELATIONS: &[&str] = &["配偶", "子女", "子女", "父母", "孙子女"];
const KINDS: &[&str] = &[
    "党员",
    "低保户",
    "独居老人",
    "残疾人",
    "退役军人",
    "空巢老人",
];
/// People per compound (one merged block of compound cells).
const PER_COMPOUND: usize = 400;

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// The grid codes of a GeoJSON written by `linli gen --out`.
fn grid_codes(geojson: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(geojson)
        .with_context(|| format!("reading {}", geojson.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let codes: Vec<String> = v["features"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x["properties"]["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(!codes.is_empty(), "no grid codes in {}", geojson.display());
    Ok(codes)
}

/// One ledger row: cells as a worker typed them.
fn rows(n: usize, grids: &[String], seed: u64) -> Vec<[String; 14]> {
    let mut rng = SplitMix64::new(seed ^ 0x1ED6E5);
    let mut out = Vec::with_capacity(n);
    let mut ids = std::collections::HashSet::new();
    let mut flat = 0usize;
    while out.len() < n {
        flat += 1;
        let compound_no = out.len() / PER_COMPOUND;
        let grid = &grids[compound_no % grids.len()];
        // 24 flats a building: two units of six floors, two flats a floor.
        let building = 1 + (flat / 24) % 30;
        let unit = 1 + (flat / 12) % 2;
        let room = format!("{}{:02}", 1 + (flat % 24) / 2, 1 + flat % 2);
        // A flat of one to five people; one flat in twenty holds two families.
        let size = 1 + rng.index(5);
        let two_families = size >= 3 && rng.chance(0.05);
        for k in 0..size {
            if out.len() >= n {
                break;
            }
            let head = k == 0 || (two_families && k == size / 2 + 1);
            let year = if head {
                1940 + rng.below(50)
            } else {
                1950 + rng.below(70)
            };
            let (month, day) = (1 + rng.below(12), 1 + rng.below(28));
            let male = rng.chance(0.5);
            // Each person's own number: draw again on a collision.
            let first17 = loop {
                let seq = rng.below(500) * 2 + u64::from(male);
                let f = format!("510104{year}{month:02}{day:02}{seq:03}");
                if ids.insert(f.clone()) {
                    break f;
                }
            };
            let check = resident_id_check_char(first17.as_bytes()).unwrap_or('0');
            let id = format!("{first17}{check}");
            let id_cell = match rng.below(40) {
                0 if year < 2000 => format!("{}{}", &first17[..6], &first17[8..17]),
                1 => format!("{} {} {}", &id[..6], &id[6..14], &id[14..]),
                2 => full_width(&id),
                _ if check == 'X' && rng.chance(0.5) => id.to_lowercase(),
                _ => id,
            };
            let born = if rng.chance(0.5) {
                format!("{year}年{month:02}月{day:02}日")
            } else {
                format!("{year}-{month:02}-{day:02}")
            };
            let mobile = format!("1{}{:09}", 3 + rng.below(7), rng.below(1_000_000_000));
            let phone = match rng.below(20) {
                0 => format!("{mobile}/028-8{:07}", rng.below(10_000_000)),
                1 => full_width(&mobile),
                2..=5 => String::new(),
                _ => mobile,
            };
            let mut name = format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN));
            if rng.chance(0.02) {
                name = name.chars().map(String::from).collect::<Vec<_>>().join(" ");
            }
            let room_cell = match rng.below(10) {
                0 => format!("{room}室"),
                1 => full_width(&room),
                _ => room.clone(),
            };
            out.push([
                (out.len() + 1).to_string(),
                name,
                if male {
                    "男"
                } else if rng.chance(0.1) {
                    "女性"
                } else {
                    "女"
                }
                .to_string(),
                "汉".to_string(),
                id_cell,
                born,
                phone,
                grid.clone(),
                format!("第{compound_no}小区"),
                format!("{building}号楼"),
                unit.to_string(),
                room_cell,
                if head { "户主" } else { rng.pick(RELATIONS) }.to_string(),
                if rng.chance(0.1) {
                    rng.pick(KINDS).to_string()
                } else {
                    String::new()
                },
            ]);
        }
    }
    out
}

/// Writes `ledger.xlsx` and `ledger.csv` (GBK) of `n` people into `out`.
pub fn write(n: usize, geojson: &Path, seed: u64, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let grids = grid_codes(geojson)?;
    let rows = rows(n, &grids, seed);
    let last_col = u16::try_from(HEADER.len() - 1)?;

    let mut wb = Workbook::new();
    let plain = Format::new();
    let ws = wb.add_worksheet();
    ws.set_name("人口台账")?;
    ws.merge_range(0, 0, 0, last_col, "某某街道人口信息台账", &plain)?;
    ws.merge_range(
        1,
        0,
        1,
        last_col,
        "填报单位：某某街道    填报日期：2026年11月",
        &plain,
    )?;
    ws.merge_range(2, 1, 2, 6, "基本信息", &plain)?;
    ws.merge_range(2, 7, 2, 11, "居住信息", &plain)?;
    for (col, h) in HEADER.iter().enumerate() {
        let col = u16::try_from(col)?;
        if matches!(col, 0 | 12 | 13) {
            ws.merge_range(2, col, 3, col, h, &plain)?;
        } else {
            ws.write_string(3, col, *h)?;
        }
    }
    for (i, r) in rows.iter().enumerate() {
        let row = 4 + u32::try_from(i)?;
        for (col, v) in r.iter().enumerate() {
            if col == 8 && i % PER_COMPOUND != 0 {
                continue;
            }
            ws.write_string(row, u16::try_from(col)?, v)?;
        }
    }
    // Each compound's cell merged down its rows, as ledgers do.
    for start in (0..rows.len()).step_by(PER_COMPOUND) {
        let end = (start + PER_COMPOUND).min(rows.len()) - 1;
        if end > start {
            ws.merge_range(
                4 + u32::try_from(start)?,
                8,
                4 + u32::try_from(end)?,
                8,
                &rows[start][8],
                &plain,
            )?;
        }
    }
    let foot = 4 + u32::try_from(rows.len())?;
    ws.write_string(foot, 0, format!("合计：{}人", rows.len()))?;
    ws.merge_range(
        foot + 1,
        0,
        foot + 1,
        last_col,
        "制表人：刘洋        审核人：陈静",
        &plain,
    )?;
    wb.save(out.join("ledger.xlsx"))?;

    let mut text = String::from("某某街道人口信息台账\n");
    text.push_str(&HEADER.join(","));
    text.push('\n');
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(col, v)| match col {
                // The merge is lost in a CSV: only the block's first row keeps it.
                8 if i % PER_COMPOUND != 0 => String::new(),
                _ if v.contains(',') => format!("\"{v}\""),
                _ => v.clone(),
            })
            .collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    text.push_str(&format!("合计：{}人\n", rows.len()));
    let (gbk, _, bad) = encoding_rs::GBK.encode(&text);
    anyhow::ensure!(!bad, "the ledger text is not all GBK");
    std::fs::write(out.join("ledger.csv"), gbk)?;
    println!(
        "{}",
        json!({"workload": "ledger_file", "rows": rows.len(), "grids": grids.len()})
    );
    Ok(())
}
