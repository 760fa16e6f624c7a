//! Reading a spreadsheet or text table into rows of text, as the worker
//! sees it in Excel: CSV in UTF-8 (with or without BOM), UTF-16 or
//! GBK/GB18030, separated by commas, tabs or semicolons; .xlsx and .xls
//! with merged cells filled from their top-left cell; any sheet.
//!
//! A cell Excel stored as a number with more than 15 significant digits
//! has already lost its last digits inside the file (510104196212165535
//! becomes 510104196212165500). Such cells are marked so that the import
//! refuses them for identifiers instead of storing a wrong number.

use std::collections::HashSet;
use std::io::Cursor;

use calamine::{Data, Range, Reader, Sheets, open_workbook_auto_from_rs};
use chrono::NaiveDate;

use crate::{Result, StoreError};

/// File formats accepted for tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Delimited text: CSV, TSV, semicolons; the separator is found.
    Csv,
    /// An Excel workbook, .xlsx or the older .xls.
    Xlsx,
}

impl TableFormat {
    pub fn from_path(path: &str) -> Result<Self> {
        let lower = path.to_ascii_lowercase();
        if [".csv", ".tsv", ".txt"].iter().any(|e| lower.ends_with(e)) {
            Ok(TableFormat::Csv)
        } else if lower.ends_with(".xlsx") || lower.ends_with(".xls") {
            Ok(TableFormat::Xlsx)
        } else {
            Err(StoreError::file(
                format!("{path}: expected a .csv, .tsv, .xlsx or .xls file"),
                format!("{path}：请用 .csv、.tsv、.xlsx 或 .xls 文件"),
            ))
        }
    }

    /// The format by the file's first bytes: a ZIP archive (.xlsx) or an
    /// OLE compound file (.xls) is a workbook, anything else text.
    pub fn sniff(bytes: &[u8]) -> Self {
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
            TableFormat::Xlsx
        } else {
            TableFormat::Csv
        }
    }
}

/// One sheet as text cells, before any header is looked for.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    /// The sheet's name in a workbook; empty for text files.
    pub name: String,
    /// Rows of cells; `numbers[i]` is row i's number as the spreadsheet
    /// shows it (1 for the first row).
    pub rows: Vec<Vec<String>>,
    pub numbers: Vec<usize>,
    /// (row index, column) of cells holding a number too long to be exact.
    pub rounded: HashSet<(usize, usize)>,
    /// (row index, column) of cells filled from a merged cell above or to
    /// the left.
    pub merged: HashSet<(usize, usize)>,
    /// How the file was read (encoding, separator), for the report.
    pub read_as: String,
}

/// The sheets of a file: one for a text file, each worksheet of a workbook.
pub fn read_sheets(bytes: &[u8], format: TableFormat) -> Result<Vec<Sheet>> {
    match format {
        TableFormat::Csv => Ok(vec![read_text(bytes)?]),
        TableFormat::Xlsx => read_workbook(bytes),
    }
}

/// Decodes text: UTF-8 (BOM or not), UTF-16 with BOM, else GB18030 (a
/// superset of GBK and GB2312, which Excel on a Chinese Windows writes).
fn decode(bytes: &[u8]) -> Result<(String, &'static str)> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(|s| (s.to_string(), "UTF-8"))
            .map_err(|e| {
                StoreError::file(
                    format!("the file says UTF-8 but is not: {e}"),
                    "文件标明是UTF-8编码，但内容不是",
                )
            });
    }
    for (bom, enc, name) in [
        (&b"\xFF\xFE"[..], encoding_rs::UTF_16LE, "UTF-16"),
        (&b"\xFE\xFF"[..], encoding_rs::UTF_16BE, "UTF-16"),
    ] {
        if bytes.starts_with(bom) {
            let (text, _, bad) = enc.decode(bytes);
            if !bad {
                return Ok((text.into_owned(), name));
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((s.to_string(), "UTF-8"));
    }
    let (text, _, bad) = encoding_rs::GB18030.decode(bytes);
    if bad {
        return Err(StoreError::file(
            "the file is neither UTF-8 nor GBK text; save it as CSV (UTF-8) or .xlsx",
            "文件既不是UTF-8也不是GBK编码的文本，请另存为CSV（UTF-8）或 .xlsx",
        ));
    }
    Ok((text.into_owned(), "GBK"))
}

/// The separator that splits the first lines most evenly: comma, tab or
/// semicolon.
fn separator(text: &str) -> u8 {
    let head: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(30)
        .collect();
    let score = |sep: char| -> usize {
        let counts: Vec<usize> = head.iter().map(|l| l.matches(sep).count()).collect();
        // The most common count among lines that have any: a separator
        // splits most lines into the same number of cells.
        let mut best = 0;
        for &c in counts.iter().filter(|&&c| c > 0) {
            let n = counts.iter().filter(|&&x| x == c).count();
            best = best.max(n * c.min(64));
        }
        best
    };
    [(b',', ','), (b'\t', '\t'), (b';', ';')]
        .into_iter()
        .max_by_key(|(_, c)| score(*c))
        .map_or(b',', |(b, _)| b)
}

/// A number Excel wrote in scientific form (5.10104E+17) into a CSV: its
/// digits are gone.
fn is_scientific(cell: &str) -> bool {
    let Some((mantissa, exp)) = cell.split_once(['E', 'e']) else {
        return false;
    };
    let exp = exp.strip_prefix('+').unwrap_or(exp);
    !mantissa.is_empty()
        && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
        && exp.parse::<u32>().is_ok_and(|e| e >= 11)
}

fn read_text(bytes: &[u8]) -> Result<Sheet> {
    let (text, encoding) = decode(bytes)?;
    let sep = separator(&text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sep)
        .from_reader(text.as_bytes());
    let mut sheet = Sheet {
        read_as: format!(
            "{encoding}, {}",
            match sep {
                b'\t' => "tab",
                b';' => "semicolon",
                _ => "comma",
            }
        ),
        ..Default::default()
    };
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| {
            StoreError::file(
                format!("row {}: {e}", i + 1),
                format!("第{}行无法读取：{e}", i + 1),
            )
        })?;
        let cells: Vec<String> = rec.iter().map(|c| unguard(c.trim()).to_string()).collect();
        for (col, c) in cells.iter().enumerate() {
            if is_scientific(c) {
                sheet.rounded.insert((sheet.rows.len(), col));
            }
        }
        sheet.rows.push(cells);
        sheet.numbers.push(i + 1);
    }
    Ok(sheet)
}

/// A cell as it was before an export guarded it against formulas: the
/// apostrophe [`crate::export`] puts before = + - @ is the spreadsheet's
/// "this is text" mark, not part of the value, so an export reads back
/// as it was.
pub(crate) fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// A cell's text, and whether it is a number Excel could not keep exact.
#[expect(
    clippy::cast_possible_truncation,
    reason = "whole numbers below 1e15 and Excel day counts fit in i64"
)]
fn cell_text(d: &Data) -> (String, bool) {
    match d {
        Data::Empty => (String::new(), false),
        Data::String(s) => (s.trim().to_string(), false),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => (format!("{}", *f as i64), false),
        // 16 digits or more: a double keeps about 15.9 of them.
        Data::Float(f) if f.abs() >= 1e15 => (format!("{f:.0}"), true),
        Data::Float(f) => (f.to_string(), false),
        Data::Int(i) => (i.to_string(), i.unsigned_abs() >= 1_000_000_000_000_000),
        Data::Bool(b) => (b.to_string(), false),
        // Excel counts days from 1899-12-30 (after its 1900 leap-year bug).
        // A fraction of a day is its time (来电时间 2026-11-02 09:15).
        Data::DateTime(dt) => {
            let v = dt.as_f64();
            let secs = ((v - v.floor()) * 86_400.0).round() as i64;
            let day = NaiveDate::from_ymd_opt(1899, 12, 30)
                .and_then(|d| d.checked_add_signed(chrono::Duration::days(v.floor() as i64)));
            let text = match day {
                Some(d) if secs == 0 => d.format("%Y-%m-%d").to_string(),
                Some(d) => (d.and_hms_opt(0, 0, 0).unwrap_or_default()
                    + chrono::Duration::seconds(secs))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
                None => v.to_string(),
            };
            (text, false)
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => (s.clone(), false),
        Data::Error(e) => (format!("#{e:?}"), false),
    }
}

fn read_workbook(bytes: &[u8]) -> Result<Vec<Sheet>> {
    let mut wb = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| {
        StoreError::file(
            format!("not a readable Excel workbook (.xlsx or .xls): {e}"),
            "不是可读取的Excel工作簿（.xlsx 或 .xls）",
        )
    })?;
    let names = wb.sheet_names();
    let mut out = Vec::new();
    for name in &names {
        let range = wb.worksheet_range(name).map_err(|e| {
            StoreError::file(
                format!("worksheet {name}: {e}"),
                format!("工作表“{name}”无法读取"),
            )
        })?;
        let merges: Vec<calamine::Dimensions> = match &mut wb {
            Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(name).map_err(|e| {
                StoreError::file(
                    format!("worksheet {name}: merged cells: {e}"),
                    format!("工作表“{name}”的合并单元格无法读取"),
                )
            })?,
            Sheets::Xls(x) => x.merge_cells_by_sheet_name(name).map_err(|e| {
                StoreError::file(
                    format!("worksheet {name}: merged cells: {e}"),
                    format!("工作表“{name}”的合并单元格无法读取"),
                )
            })?,
            _ => Vec::new(),
        };
        out.push(sheet_of(name, &range, &merges));
    }
    if out.is_empty() {
        return Err(StoreError::file(
            "the workbook has no worksheet",
            "工作簿中没有工作表",
        ));
    }
    Ok(out)
}

fn sheet_of(name: &str, range: &Range<Data>, merges: &[calamine::Dimensions]) -> Sheet {
    let (r0, c0) = range.start().unwrap_or((0, 0));
    let mut sheet = Sheet {
        name: name.to_string(),
        read_as: "Excel".into(),
        ..Default::default()
    };
    for (i, r) in range.rows().enumerate() {
        let mut cells = Vec::with_capacity(r.len() + c0 as usize);
        cells.resize(c0 as usize, String::new());
        for (j, d) in r.iter().enumerate() {
            let (text, rounded) = cell_text(d);
            if rounded {
                sheet.rounded.insert((i, c0 as usize + j));
            }
            cells.push(text);
        }
        sheet.rows.push(cells);
        sheet.numbers.push(r0 as usize + i + 1);
    }
    // A merged cell holds its value in its top-left cell only; the worker
    // sees it in every cell it covers, so every covered cell gets it.
    for m in merges {
        let (top, left) = (m.start.0 as usize, m.start.1 as usize);
        let Some(ti) = top.checked_sub(r0 as usize) else {
            continue;
        };
        let Some(value) = sheet.rows.get(ti).and_then(|r| r.get(left)).cloned() else {
            continue;
        };
        let was_rounded = sheet.rounded.contains(&(ti, left));
        for row in top..=m.end.0 as usize {
            let Some(ri) = row.checked_sub(r0 as usize) else {
                continue;
            };
            let Some(cells) = sheet.rows.get_mut(ri) else {
                continue;
            };
            for col in left..=m.end.1 as usize {
                if (row, col) == (top, left) {
                    continue;
                }
                if cells.len() <= col {
                    cells.resize(col + 1, String::new());
                }
                cells[col] = value.clone();
                sheet.merged.insert((ri, col));
                if was_rounded {
                    sheet.rounded.insert((ri, col));
                }
            }
        }
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_tab_separated() {
        let (bytes, _, _) = encoding_rs::GBK.encode("姓名\t小区\n张三\t幸福里\n");
        let s = &read_sheets(&bytes, TableFormat::Csv).unwrap()[0];
        assert_eq!(s.rows[1], vec!["张三", "幸福里"]);
        assert_eq!(s.read_as, "GBK, tab");
    }

    #[test]
    fn semicolons_and_bom() {
        let s = &read_sheets("\u{feff}a;b,c\n1;2,3\n".as_bytes(), TableFormat::Csv).unwrap()[0];
        assert_eq!(s.rows[0], vec!["a", "b,c"]);
    }

    #[test]
    fn scientific_numbers_marked() {
        let s = &read_sheets(b"id,n\n5.10104E+17,1\n", TableFormat::Csv).unwrap()[0];
        assert!(s.rounded.contains(&(1, 0)));
        assert!(!s.rounded.contains(&(1, 1)));
    }

    #[test]
    fn rounded_float_marked() {
        assert!(cell_text(&Data::Float(510104196212165535.0)).1);
        assert_eq!(
            cell_text(&Data::Float(13800138000.0)),
            ("13800138000".into(), false)
        );
    }
}
