//! Reading the ledgers communities keep (台账) as they are, not as a
//! template wishes they were: the header found under title rows (and
//! across two merged header rows), columns known by the many names people
//! give them, and values normalised with a note of every change, so that
//! nothing is altered without the worker being told.
//!
//! Everything here is pure: the store reads the file into rows of text
//! and applies these rules.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::NaiveDate;

use crate::validate;

/// What a file is meant to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerKind {
    /// People and their dwellings (人口台账).
    Registry,
    /// The compound ledger (一院一档).
    Compounds,
    /// A batch of 12345 hotline tickets (工单) as the platform exports it.
    Hotline,
}

impl LedgerKind {
    fn code(self) -> &'static str {
        match self {
            LedgerKind::Registry => "registry",
            LedgerKind::Compounds => "compounds",
            LedgerKind::Hotline => "hotline",
        }
    }
}

const HEADERS: &str = include_str!("../data/ledger_headers.txt");

/// The names each field goes by, folded with [`fold_header`].
#[derive(Debug, Clone)]
pub struct Dictionary {
    /// folded name → field key
    names: HashMap<String, &'static str>,
}

impl Dictionary {
    /// The dictionary kept in `data/ledger_headers.txt` for one kind, with
    /// each field's own key (such as `id_number`) as a name too.
    pub fn of(kind: LedgerKind) -> Self {
        let mut names = HashMap::new();
        for line in HEADERS.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(k), Some(field), Some(list)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if k != kind.code() {
                continue;
            }
            names.insert(fold_header(field), field);
            for n in list.split('|') {
                names.insert(fold_header(n), field);
            }
        }
        Dictionary { names }
    }

    /// Adds a name for a field (from a saved mapping template).
    pub fn alias(&mut self, name: &str, field: &'static str) {
        self.names.insert(fold_header(name), field);
    }

    /// The field a header names, if any.
    pub fn field(&self, header: &str) -> Option<&'static str> {
        self.names.get(&fold_header(header)).copied()
    }
}

/// Full-width ASCII (ＡＢＣ１２３，) and the ideographic space to their
/// half-width forms; anything else unchanged.
pub fn half_width(s: &str) -> Cow<'_, str> {
    if s.chars().all(|c| c.is_ascii() || !is_full_width(c)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\u{3000}' => ' ',
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .collect(),
    )
}

fn is_full_width(c: char) -> bool {
    matches!(c, '\u{3000}' | '\u{FF01}'..='\u{FF5E}')
}

/// A header as compared: half-width, without spaces, line breaks, '*',
/// and notes in brackets such as (必填) or （选填）; ASCII in lower case.
/// Units in brackets are kept when the whole name is the unit form the
/// dictionary lists, so 面积(㎡) still folds to itself.
pub fn fold_header(h: &str) -> String {
    let h = half_width(h.trim_start_matches('\u{feff}'));
    let mut out = String::with_capacity(h.len());
    let mut depth = 0usize;
    let mut bracket = String::new();
    for c in h.chars() {
        match c {
            '(' | '[' | '【' | '〔' => {
                depth += 1;
                bracket.push('(');
            }
            ')' | ']' | '】' | '〕' if depth > 0 => {
                depth -= 1;
                bracket.push(')');
                if depth == 0 {
                    // Keep units (㎡, 平方米); drop notes (必填, 选填, 如…).
                    let inner = &bracket[1..bracket.len() - 1];
                    if ["㎡", "平方米", "m2", "元", "岁"].contains(&inner) {
                        out.push_str(&bracket);
                    }
                    bracket.clear();
                }
            }
            c if c.is_whitespace() || c == '*' || c == ':' || c == '：' => {}
            c if depth > 0 => bracket.push(c.to_ascii_lowercase()),
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// Where the header of a sheet is and what each column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    /// Index of the first header row in the rows given.
    pub first_row: usize,
    /// 1 for a plain header, 2 when two rows (a merged group name above
    /// the column names) make it.
    pub height: usize,
    /// The header text of each column as the file writes it (the two rows
    /// joined with '/').
    pub labels: Vec<String>,
    /// The field each column fills; `None` for a column not used.
    pub fields: Vec<Option<&'static str>>,
}

impl HeaderMatch {
    /// Columns that will not be read, with their header text: these are
    /// named to the worker, never dropped silently.
    pub fn unused(&self) -> Vec<(usize, &str)> {
        self.labels
            .iter()
            .enumerate()
            .filter(|(i, l)| self.fields[*i].is_none() && !l.is_empty())
            .map(|(i, l)| (i, l.as_str()))
            .collect()
    }
    /// Columns whose field is also filled by an earlier column.
    pub fn repeated(&self) -> Vec<(usize, &'static str)> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            if let Some(f) = f {
                if seen.contains(f) {
                    out.push((i, *f));
                } else {
                    seen.push(*f);
                }
            }
        }
        out
    }
    pub fn column(&self, field: &str) -> Option<usize> {
        self.fields.iter().position(|f| *f == Some(field))
    }
}

/// How many leading rows are searched for the header: title rows, a
/// notes row and a date row above a header are common; twenty is plenty.
pub const HEADER_SCAN_ROWS: usize = 20;

/// Finds the header: the row (or pair of rows) among the first
/// [`HEADER_SCAN_ROWS`] whose cells name the most distinct fields. With a
/// pair, a column's name is the lower cell where it has one (户籍信息 /
/// 户籍地址 → 户籍地址) and the upper cell otherwise (a name merged down
/// over both rows). Returns `None` when no row names at least two fields.
pub fn find_header(rows: &[Vec<String>], dict: &Dictionary) -> Option<HeaderMatch> {
    let mut best: Option<(usize, HeaderMatch)> = None;
    for first in 0..rows.len().min(HEADER_SCAN_ROWS) {
        for height in 1..=2 {
            if first + height > rows.len() {
                continue;
            }
            let m = header_at(rows, first, height, dict);
            let score = fields_named(&m);
            // A pair of rows must name more fields than its lower row alone
            // (else the upper row is a title, not part of the header).
            if height == 2 && score <= fields_named(&header_at(rows, first + 1, 1, dict)) {
                continue;
            }
            if score >= 2 && best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, m));
            }
        }
    }
    best.map(|(_, m)| m)
}

/// How many distinct fields a header candidate names.
fn fields_named(m: &HeaderMatch) -> usize {
    let mut distinct: Vec<&str> = m.fields.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.len()
}

fn header_at(rows: &[Vec<String>], first: usize, height: usize, dict: &Dictionary) -> HeaderMatch {
    let width = rows[first..first + height]
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(0);
    let cell = |r: usize, c: usize| rows[r].get(c).map(|s| s.trim()).unwrap_or("");
    let mut labels = Vec::with_capacity(width);
    let mut fields = Vec::with_capacity(width);
    for c in 0..width {
        let top = cell(first, c);
        if height == 1 {
            labels.push(top.to_string());
            fields.push(dict.field(top));
            continue;
        }
        let low = cell(first + 1, c);
        let (label, field) = if low.is_empty() || low == top {
            (top.to_string(), dict.field(top))
        } else if top.is_empty() {
            (low.to_string(), dict.field(low))
        } else {
            (
                format!("{top}/{low}"),
                dict.field(low)
                    .or_else(|| dict.field(&format!("{top}{low}"))),
            )
        };
        labels.push(label);
        fields.push(field);
    }
    HeaderMatch {
        first_row: first,
        height,
        labels,
        fields,
    }
}

/// A row below the header that is not data: a total, a signature line
/// (制表人、审核人), a note. Such rows are skipped and named in the report.
pub fn is_note_row(cells: &[String]) -> bool {
    let filled: Vec<&str> = cells
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect();
    let Some(first) = filled.first() else {
        return false;
    };
    let first = half_width(first);
    const MARKS: [&str; 11] = [
        "合计",
        "总计",
        "小计",
        "制表",
        "填表",
        "审核",
        "负责人",
        "备注",
        "说明",
        "注:",
        "注：",
    ];
    let marked = MARKS.iter().any(|m| first.starts_with(m));
    // One text repeated over the whole row is a merged note across it.
    let one_text = filled.len() > 1 && filled.iter().all(|c| c == &filled[0]);
    (marked && filled.len() <= 3) || one_text
}

/// One value the reader changed, so the worker can see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub from: String,
    pub to: String,
    /// Why, in Chinese (shown on Chinese pages) and English.
    pub why_zh: &'static str,
    pub why_en: &'static str,
}

/// A value after normalising, with the change made (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised<T> {
    pub value: T,
    pub change: Option<Change>,
}

fn changed<T>(
    value: T,
    from: &str,
    to: &str,
    why_zh: &'static str,
    why_en: &'static str,
) -> Normalised<T> {
    Normalised {
        value,
        change: (from.trim() != to).then(|| Change {
            from: from.trim().to_string(),
            to: to.to_string(),
            why_zh,
            why_en,
        }),
    }
}

/// Upgrades a 15-digit ID number (issued before 1999) to its 18-digit
/// form: "19" before the 2-digit birth year and the check character after.
pub fn upgrade_id15(id15: &str) -> Option<String> {
    if id15.len() != 15 || !id15.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let first17 = format!("{}19{}", &id15[..6], &id15[6..]);
    let check = validate::resident_id_check_char(first17.as_bytes())?;
    Some(format!("{first17}{check}"))
}

/// An ID number as typed into a ledger: full-width digits, spaces,
/// apostrophes (Excel's text mark) and dashes removed, a lower-case x
/// raised, and a 15-digit number upgraded to 18 digits. The result still
/// goes through [`validate::resident_id`].
pub fn id_number(raw: &str) -> Normalised<String> {
    let s: String = half_width(raw)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\'' | '-' | '‘' | '’' | '`'))
        .collect::<String>()
        .to_ascii_uppercase();
    if let Some(up) = upgrade_id15(&s) {
        return changed(
            up.clone(),
            raw,
            &up,
            "15 位旧身份证号已升为 18 位",
            "15-digit ID number upgraded to 18 digits",
        );
    }
    changed(
        s.clone(),
        raw,
        &s,
        "去除空格、全角字符或小写 x",
        "spaces, full-width characters or a lower-case x removed",
    )
}

/// The phones in one ledger cell: the first mainland mobile number, the
/// first landline (with its area code as written) and whatever else was
/// there and could not be read as either.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phones {
    pub mobile: Option<String>,
    pub landline: Option<String>,
    /// Further numbers beyond the first of each kind.
    pub extra: Vec<String>,
    /// Parts that are neither.
    pub unreadable: Vec<String>,
}

/// Removes notes in brackets that hold no digits: 13912345601(本人).
fn without_notes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut note = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '(' | '（' => {
                depth += 1;
                note.push(c);
            }
            ')' | '）' if depth > 0 => {
                depth -= 1;
                note.push(c);
                if depth == 0 {
                    if note.chars().any(|c| c.is_ascii_digit()) {
                        out.push_str(&note);
                    }
                    note.clear();
                }
            }
            c if depth > 0 => note.push(c),
            c => out.push(c),
        }
    }
    out.push_str(&note);
    out
}

/// Splits a phone cell (two numbers in one cell, 028-8555 1234, +86 …).
pub fn phones(raw: &str) -> Phones {
    let s = without_notes(&half_width(raw));
    let mut out = Phones::default();
    let mut parts: Vec<String> = Vec::new();
    for part in s
        .split(['/', ',', ';', '，', '；', '、', '\n', '|'])
        .flat_map(|p| p.split("或"))
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        // Numbers side by side with only a space between (13800001111
        // 13800002222): each mobile on its own, the rest together.
        let compact: String = part.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if validate::mobile_phone(&compact).is_err() && !is_landline(&compact) && part.contains(' ')
        {
            let mut rest = Vec::new();
            for tok in part.split_whitespace() {
                if validate::mobile_phone(tok).is_ok() {
                    parts.push(tok.to_string());
                } else {
                    rest.push(tok);
                }
            }
            if !rest.is_empty() {
                parts.push(rest.join(" "));
            }
        } else {
            parts.push(part.to_string());
        }
    }
    for part in parts.iter().map(String::as_str) {
        let compact: String = part
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '\'' | '（' | '）'))
            .collect();
        if let Ok(m) = validate::mobile_phone(&compact) {
            if out.mobile.is_none() {
                out.mobile = Some(m);
            } else {
                out.extra.push(m);
            }
        } else if is_landline(&compact) {
            let l = landline_form(part);
            if out.landline.is_none() {
                out.landline = Some(l);
            } else {
                out.extra.push(l);
            }
        } else {
            out.unreadable.push(part.to_string());
        }
    }
    out
}

/// 0 + 2-3 digit area code + 7-8 digits, or 7-8 digits without one.
fn is_landline(compact: &str) -> bool {
    let b = compact.as_bytes();
    b.iter().all(u8::is_ascii_digit)
        && ((b.first() == Some(&b'0') && (10..=12).contains(&b.len()))
            || (7..=8).contains(&b.len()))
}

/// A landline as "area-number" when the area code can be told apart.
fn landline_form(part: &str) -> String {
    let digits: String = part.chars().filter(char::is_ascii_digit).collect();
    if !digits.starts_with('0') {
        return digits;
    }
    // Area codes: 010 and 02x are three digits, the rest four.
    let area = if digits.starts_with("010") || digits.starts_with("02") {
        3
    } else {
        4
    };
    format!("{}-{}", &digits[..area], &digits[area..])
}

/// A date in the forms Chinese ledgers use: 1962-04-14, 1962/4/14,
/// 1962.4.14, 19620414, 1962年4月14日, 1962年04月14日.
pub fn date(raw: &str) -> Option<NaiveDate> {
    let s = half_width(raw.trim())
        .replace(['年', '月', '/', '.'], "-")
        .replace('日', "");
    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&s, "%Y%m%d"))
        .ok()
}

/// A date and time as 12345 platforms and ledgers write it:
/// 2026-11-02 09:15:00, 2026/11/2 9:15, 2026年11月2日 09:15, 2026-11-02T09:15,
/// or a date alone (midnight).
pub fn date_time(raw: &str) -> Option<chrono::NaiveDateTime> {
    let s = half_width(raw.trim())
        .replace(['年', '月', '/', '.'], "-")
        .replace(['日', 'T'], " ");
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&s, fmt) {
            return Some(t);
        }
    }
    date(&s).and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// Gender in the words ledgers use: 男/男性/M/male/1, 女/女性/F/female/2.
pub fn gender(raw: &str) -> Option<validate::Gender> {
    let s = half_width(raw.trim()).to_ascii_lowercase();
    match s.as_str() {
        "男" | "男性" | "m" | "male" | "1" => Some(validate::Gender::Male),
        "女" | "女性" | "f" | "female" | "2" => Some(validate::Gender::Female),
        _ => None,
    }
}

/// A person's name: outer spaces gone, and inner spaces removed from a
/// Chinese name (张 三 → 张三) where they are only alignment; a name in
/// Latin letters keeps its spaces.
pub fn person_name(raw: &str) -> Normalised<String> {
    let t = half_width(raw.trim()).into_owned();
    let han = t
        .chars()
        .filter(|c| !c.is_whitespace())
        .all(|c| !c.is_ascii());
    let v: String = if han {
        t.chars().filter(|c| !c.is_whitespace()).collect()
    } else {
        t.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    changed(
        v.clone(),
        raw,
        &v,
        "去除姓名中的空格",
        "spaces removed from the name",
    )
}

/// A 12345 ticket's 办理时限 as platforms write it: a date and time
/// (2026-11-05 18:00), working days (3个工作日), working hours (4个工作小时),
/// natural days (3天, 3个自然日) or hours (2小时, 24h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLimit {
    Until(chrono::NaiveDateTime),
    Within(crate::calendar::Limit),
    Hours(u32),
}

/// Reads a 办理时限; `None` when it is none of the forms above.
pub fn time_limit(raw: &str) -> Option<TimeLimit> {
    use crate::calendar::Limit;
    let s: String = half_width(raw.trim())
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if s.is_empty() {
        return None;
    }
    if let Some(t) = date_time(&s) {
        return Some(TimeLimit::Until(t));
    }
    let lower = s.to_lowercase();
    type Make = fn(u32) -> TimeLimit;
    let forms: [(&str, Make); 9] = [
        ("个工作日", |n| TimeLimit::Within(Limit::WorkingDays(n))),
        ("工作日", |n| TimeLimit::Within(Limit::WorkingDays(n))),
        ("个工作小时", |n| {
            TimeLimit::Within(Limit::WorkingHours(n))
        }),
        ("工作小时", |n| {
            TimeLimit::Within(Limit::WorkingHours(n))
        }),
        ("个自然日", |n| TimeLimit::Hours(n.saturating_mul(24))),
        ("自然日", |n| TimeLimit::Hours(n.saturating_mul(24))),
        ("天", |n| TimeLimit::Hours(n.saturating_mul(24))),
        ("个小时", TimeLimit::Hours),
        ("小时", TimeLimit::Hours),
    ];
    for (suffix, make) in forms {
        if let Some(n) = lower.strip_suffix(suffix) {
            return count(n).map(make);
        }
    }
    lower
        .strip_suffix('h')
        .and_then(count)
        .map(TimeLimit::Hours)
}

/// A positive count in digits or Chinese numerals.
fn count(s: &str) -> Option<u32> {
    let n = match s.parse::<u32>() {
        Ok(n) => n,
        Err(_) => chinese_number(s)?,
    };
    (n > 0).then_some(n)
}

/// A number written in Chinese numerals from 一 to 九十九 (一, 十, 十二, 二十, 二十三).
pub fn chinese_number(s: &str) -> Option<u32> {
    let digit = |c: char| {
        "〇一二三四五六七八九"
            .chars()
            .zip(0u32..)
            .find(|(d, _)| *d == c)
            .map(|(_, n)| n)
    };
    let chars: Vec<char> = s.chars().collect();
    match chars.as_slice() {
        [d] => digit(*d).filter(|n| *n > 0).or((*d == '十').then_some(10)),
        ['十', d] => digit(*d).map(|n| 10 + n),
        [t, '十'] => digit(*t).filter(|n| *n > 1).map(|n| n * 10),
        [t, '十', d] => Some(digit(*t).filter(|n| *n > 1)? * 10 + digit(*d).filter(|n| *n > 0)?),
        _ => None,
    }
}

/// The number before one of the suffixes, in digits (3, 03) or Chinese
/// numerals (三), as digits.
fn digits_then(s: &str, suffixes: &[&str]) -> Option<String> {
    let mut rest = s;
    for suf in suffixes {
        if let Some(r) = rest.strip_suffix(suf) {
            rest = r;
            break;
        }
    }
    if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
        return Some(rest.to_string());
    }
    chinese_number(rest).map(|n| n.to_string())
}

/// A building as linli writes it: "3栋" for 3, 3栋, 3幢, 3号楼, 3号, 3座.
pub fn building(raw: &str) -> Normalised<String> {
    let t: String = half_width(raw.trim())
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let v = match digits_then(&t, &["号楼", "栋", "幢", "座", "号", "楼"]) {
        Some(n) => format!("{}栋", n.trim_start_matches('0')),
        None => t,
    };
    changed(
        v.clone(),
        raw,
        &v,
        "楼栋统一写法",
        "building written the one way",
    )
}

/// A unit as linli writes it: "2单元" for 2, 2单元, 02.
pub fn unit(raw: &str) -> Normalised<String> {
    let t: String = half_width(raw.trim())
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let v = match digits_then(&t, &["单元"]) {
        Some(n) => format!("{}单元", n.trim_start_matches('0')),
        None => t,
    };
    changed(
        v.clone(),
        raw,
        &v,
        "单元统一写法",
        "unit written the one way",
    )
}

/// A room number as linli writes it: "703" for 703, 703室, ７０３, 703号.
pub fn room(raw: &str) -> Normalised<String> {
    let t: String = half_width(raw.trim())
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let v = digits_then(&t, &["室", "号", "房"]).unwrap_or(t);
    changed(
        v.clone(),
        raw,
        &v,
        "房号统一写法",
        "room number written the one way",
    )
}

/// Relation to the head of the household (与户主关系), kept apart from
/// ownership or tenancy of the dwelling.
pub fn is_household_head(raw: &str) -> bool {
    matches!(
        half_width(raw.trim()).as_ref(),
        "户主" | "本人" | "户主本人" | "head"
    )
}

/// Text with full-width characters made half-width and the change noted.
pub fn plain(raw: &str) -> Normalised<String> {
    let v = half_width(raw.trim()).trim().to_string();
    changed(
        v.clone(),
        raw,
        &v,
        "全角字符改为半角",
        "full-width characters made half-width",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[&[&str]]) -> Vec<Vec<String>> {
        text.iter()
            .map(|r| r.iter().map(|c| (*c).to_string()).collect())
            .collect()
    }

    #[test]
    fn header_found_under_a_title_and_across_two_merged_rows() {
        let dict = Dictionary::of(LedgerKind::Registry);
        let r = rows(&[
            &["某某社区人口信息台账", "某某社区人口信息台账", "", "", ""],
            &["填报日期：2026年11月", "", "", "", ""],
            &["基本信息", "基本信息", "基本信息", "联系方式", "居住信息"],
            &["姓名", "性别", "民族", "联系电话", "小区"],
            &["张三", "男", "汉", "13800138000", "幸福里"],
        ]);
        let m = find_header(&r, &dict).unwrap();
        // The group row above adds no field: the column names' row is the header.
        assert_eq!((m.first_row, m.height), (3, 1));
        assert_eq!(
            m.fields,
            vec![
                Some("name"),
                Some("gender"),
                None,
                Some("phone"),
                Some("compound")
            ]
        );
        assert_eq!(m.unused(), vec![(2, "民族")]);
        // A name written only in the upper of two header rows (a merged
        // cell saved as text keeps it there) makes the pair the header.
        let r = rows(&[
            &["姓名", "居住信息", "与户主关系"],
            &["", "房号", ""],
            &["张三", "101", "户主"],
        ]);
        let m = find_header(&r, &dict).unwrap();
        assert_eq!((m.first_row, m.height), (0, 2));
        assert_eq!(
            m.fields,
            vec![Some("name"), Some("room"), Some("head_relation")]
        );
    }

    #[test]
    fn a_title_in_one_cell_is_not_part_of_the_header() {
        let dict = Dictionary::of(LedgerKind::Registry);
        let r = rows(&[
            &["锦绣花园住户登记表", "", ""],
            &["姓名", "性别", "房号"],
            &["张三", "男", "101"],
        ]);
        let m = find_header(&r, &dict).unwrap();
        assert_eq!((m.first_row, m.height), (1, 1));
        assert_eq!(m.labels[0], "姓名");
    }

    #[test]
    fn header_names_fold() {
        let dict = Dictionary::of(LedgerKind::Registry);
        assert_eq!(dict.field("身份证号码（必填）"), Some("id_number"));
        assert_eq!(dict.field(" *手机号码 "), Some("phone"));
        assert_eq!(dict.field("ID_NUMBER"), Some("id_number"));
        assert_eq!(dict.field("建筑面积(㎡)"), Some("floor_area"));
        assert_eq!(dict.field("民族"), None);
        // Every line of the data file parses into its kind.
        assert!(
            Dictionary::of(LedgerKind::Compounds)
                .field("物业服务企业")
                .is_some()
        );
    }

    #[test]
    fn no_header_without_two_known_names() {
        let dict = Dictionary::of(LedgerKind::Registry);
        assert!(find_header(&rows(&[&["a", "b"], &["姓名", "x"]]), &dict).is_none());
    }

    #[test]
    fn id_numbers_cleaned_and_upgraded() {
        let n = id_number("５１０１０４ 1962 1216 553x");
        assert_eq!(n.value, "51010419621216553X");
        assert!(n.change.is_some());
        let up = id_number("510104621216553");
        assert_eq!(up.value.len(), 18);
        assert!(up.value.starts_with("51010419621216553"));
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert!(
            validate::resident_id(&up.value, today).is_ok(),
            "{}",
            up.value
        );
        assert_eq!(id_number("11010519491231002X").change, None);
    }

    #[test]
    fn full_width_id_names_the_real_problem() {
        let e = validate::resident_id("５１０１０４１９６２１２１６５５３Ｘ", NaiveDate::MAX)
            .unwrap_err();
        assert!(!e.en.contains("found 18"), "{e}");
    }

    #[test]
    fn time_limits_as_platforms_write_them() {
        use crate::calendar::Limit;
        let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(
            time_limit("3个工作日"),
            Some(TimeLimit::Within(Limit::WorkingDays(3)))
        );
        assert_eq!(
            time_limit(" １５ 工作日"),
            Some(TimeLimit::Within(Limit::WorkingDays(15)))
        );
        assert_eq!(
            time_limit("五个工作日"),
            Some(TimeLimit::Within(Limit::WorkingDays(5)))
        );
        assert_eq!(
            time_limit("4个工作小时"),
            Some(TimeLimit::Within(Limit::WorkingHours(4)))
        );
        assert_eq!(time_limit("2小时"), Some(TimeLimit::Hours(2)));
        assert_eq!(time_limit("24h"), Some(TimeLimit::Hours(24)));
        assert_eq!(time_limit("3天"), Some(TimeLimit::Hours(72)));
        assert_eq!(
            time_limit("2026-11-05 18:00"),
            Some(TimeLimit::Until(at("2026-11-05 18:00")))
        );
        assert_eq!(
            time_limit("2026年11月5日18:00"),
            Some(TimeLimit::Until(at("2026-11-05 18:00")))
        );
        for bad in ["", "尽快", "0个工作日", "三周", "-3天"] {
            assert_eq!(time_limit(bad), None, "{bad}");
        }
    }

    #[test]
    fn phones_split() {
        let p = phones("13800138000/028-85551234");
        assert_eq!(p.mobile.as_deref(), Some("13800138000"));
        assert_eq!(p.landline.as_deref(), Some("028-85551234"));
        let p = phones("１３９００１３９０００，13700137000");
        assert_eq!(p.mobile.as_deref(), Some("13900139000"));
        assert_eq!(p.extra, vec!["13700137000".to_string()]);
        let p = phones("0755 8888 6666 或 无");
        assert_eq!(p.landline.as_deref(), Some("0755-88886666"));
        assert_eq!(p.unreadable, vec!["无".to_string()]);
        assert_eq!(phones("85551234").landline.as_deref(), Some("85551234"));
        assert_eq!(
            phones("010-12345678").landline.as_deref(),
            Some("010-12345678")
        );
    }

    #[test]
    fn dates_genders_places() {
        let d = NaiveDate::from_ymd_opt(1962, 4, 14);
        for s in [
            "1962年04月14日",
            "1962年4月14日",
            "1962/4/14",
            "1962.04.14",
            "19620414",
            "１９６２-04-14",
        ] {
            assert_eq!(date(s), d, "{s}");
        }
        assert_eq!(date("1962年13月1日"), None);
        assert_eq!(gender("男性"), Some(validate::Gender::Male));
        assert_eq!(gender("Ｆ"), Some(validate::Gender::Female));
        assert_eq!(gender("未知"), None);
        for r in ["703", "703室", "７０３", " 703 "] {
            assert_eq!(room(r).value, "703", "{r}");
        }
        assert_eq!(room("703").change, None);
        assert_eq!(room("B-703").value, "B-703");
        assert_eq!(building("3号楼").value, "3栋");
        assert_eq!(building("３幢").value, "3栋");
        assert_eq!(building("A座").value, "A座");
        assert_eq!(unit("2").value, "2单元");
        assert_eq!(unit("一单元").value, "1单元");
        assert_eq!(building("十二号楼").value, "12栋");
        assert_eq!(chinese_number("二十三"), Some(23));
        assert_eq!(chinese_number("十"), Some(10));
        assert_eq!(chinese_number("〇"), None);
        assert_eq!(unit("2单元").change, None);
        assert_eq!(person_name("张 三").value, "张三");
        assert_eq!(person_name("买买提·艾力").change, None);
        assert_eq!(person_name("Anna  Li").value, "Anna Li");
        assert!(is_household_head("户主"));
    }

    #[test]
    fn date_times() {
        let t = NaiveDate::from_ymd_opt(2026, 11, 2)
            .unwrap()
            .and_hms_opt(9, 15, 0);
        for s in [
            "2026-11-02 09:15:00",
            "2026/11/2 9:15",
            "2026年11月2日 09:15",
            "2026-11-02T09:15",
            "２０２６-11-02 09:15",
        ] {
            assert_eq!(date_time(s), t, "{s}");
        }
        assert_eq!(
            date_time("2026-11-02"),
            NaiveDate::from_ymd_opt(2026, 11, 2)
                .unwrap()
                .and_hms_opt(0, 0, 0)
        );
        assert_eq!(date_time("昨天"), None);
        assert!(
            Dictionary::of(LedgerKind::Hotline)
                .field("工单编号")
                .is_some()
        );
    }

    #[test]
    fn note_rows() {
        let r = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert!(is_note_row(&r(&["合计", "", "2000人"])));
        assert!(is_note_row(&r(&["制表人：张三", "", "审核人：李四"])));
        assert!(is_note_row(&r(&[
            "注：本表不含流动人口",
            "注：本表不含流动人口"
        ])));
        assert!(!is_note_row(&r(&["张三", "男", "幸福里"])));
        assert!(!is_note_row(&r(&["", "", ""])));
    }

    #[test]
    fn half_width_round() {
        assert_eq!(half_width("ＡＢＣ１２３，\u{3000}x"), "ABC123, x");
        assert!(matches!(half_width("张三 123"), Cow::Borrowed(_)));
    }
}
