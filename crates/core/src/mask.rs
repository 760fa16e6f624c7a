//! Masking of personal data on screen (Personal Information Protection Law):
//! show just enough to recognise a record, never enough to rebuild it.
//!
//! Why these forms. A resident ID number is region (6) + birth date (8) +
//! sequence (3) + check character. The region is close to the address a
//! worker already sees, so showing it gives little; everything after it is
//! hidden. Showing the last four as well (the usual 尾号) would give the
//! sequence and the check character, which with a birth year leaves about
//! 33 candidate dates — so the last four are never shown, and the birth
//! date is shown only as a ten-year age band. What remains to guess is a
//! day of a decade and a sequence: some 3,650,000 candidates, with no
//! offline way to test one (the look-up index is keyed) and the online
//! look-up audited and throttled.

/// 510104************: the region code, then stars.
pub fn id_number(id: &str) -> String {
    keep_ends(id, 6, 0)
}

/// 138****5678: the first three and last four digits (the form every
/// Chinese service uses; the four hidden digits can only be tested through
/// the audited, throttled look-up).
pub fn phone(p: &str) -> String {
    keep_ends(p, 3, 4)
}

/// 028-****1234: the area code and the last four digits, which leave as
/// many digits hidden as a masked mobile does.
pub fn landline(l: &str) -> String {
    match l.split_once('-') {
        Some((area, number)) => format!("{area}-{}", keep_ends(number, 0, 4)),
        None => keep_ends(l, 0, 4),
    }
}

/// 张**: a reporter's name shows its first character (the surname, as the
/// callers of a hotline are addressed: 张先生, 王女士) and two stars
/// whatever its length, so the mask tells nothing about the rest. A name
/// of one character shows none of it.
pub fn name(n: &str) -> String {
    let mut chars = n.trim().chars();
    match (chars.next(), chars.next()) {
        (None, _) => String::new(),
        (Some(_), None) => "*".into(),
        (Some(first), Some(_)) => format!("{first}**"),
    }
}

fn keep_ends(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n('*', chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// The ten-year age band of someone born in `birth_year`, in `this_year`:
/// (lower, upper) inclusive, e.g. (60, 69). Ages are counted by year, so
/// the band never narrows the birth date below a decade.
pub fn age_band(birth_year: i32, this_year: i32) -> Option<(i32, i32)> {
    let age = this_year - birth_year;
    if !(0..=150).contains(&age) {
        return None;
    }
    let lo = age / 10 * 10;
    Some((lo, lo + 9))
}

/// An age band as shown: "60–69岁" / "60–69".
pub fn age_band_label(birth_year: i32, this_year: i32, chinese: bool) -> String {
    match age_band(birth_year, this_year) {
        Some((lo, hi)) if chinese => format!("{lo}–{hi}岁"),
        Some((lo, hi)) => format!("{lo}–{hi}"),
        None => String::new(),
    }
}

/// What [`redact`] found in a free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every ID number and phone replaced by its mask.
    pub text: String,
    /// How many were replaced.
    pub found: usize,
}

/// Masks numbers that identify a person, typed into free text such as a
/// request's description or a staff note: ID numbers (18 characters, or
/// 15 digits, that read as region + birth date) show their region only,
/// and any other run of 11 digits or more (a mobile, also after +86 or a
/// leading 0; a landline with its area code; a bank card) keeps its first
/// three and last four. Numbers written in groups count as one (138-0013-
/// 8000, (139)12345678, 110105 19491231 002X, with dots, slashes, dashes of
/// any width, any kind of space), full-width digits are digits, and the
/// letters around a number do not matter.
pub fn redact(text: &str) -> Redacted {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut found = 0;
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // A run of digits alone first (so that "13800138000 3栋" keeps its
        // "3"), then the run with its groups.
        let run_end = digits_end(&chars, i, false);
        let (masked, end) = match mask_number(&chars[i..run_end]) {
            Some(m) => (Some(m), run_end),
            None => {
                let group_end = digits_end(&chars, i, true);
                match (group_end > run_end).then(|| mask_number(&chars[i..group_end])) {
                    Some(Some(m)) => (Some(m), group_end),
                    // Last, a number written in several scripts at once.
                    _ => {
                        let mixed_end = digits_end_in(&chars, i, true, true);
                        match (mixed_end > run_end && mixes_scripts(&chars[i..mixed_end]))
                            .then(|| mask_number(&chars[i..mixed_end]))
                        {
                            Some(Some(m)) => (Some(m), mixed_end),
                            _ => (None, run_end),
                        }
                    }
                }
            }
        };
        match masked {
            Some(m) => {
                found += 1;
                out.push_str(&m);
            }
            None => out.extend(&chars[i..end]),
        }
        i = end;
    }
    Redacted { text: out, found }
}

/// What may stand between the groups of one number.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.'
                | '/'
                | '_'
                | '('
                | ')'
                | '（'
                | '）'
                | '－'
                | '—'
                | '–'
                | '‐'
                | '·'
                | '\u{200b}'
        )
}

/// Where a number starting at `i` ends: a run of digits, or with `grouped`
/// digits joined by at most two separators at a time; an X after the 17th
/// digit (the ID check character) belongs to it.
fn digits_end(chars: &[char], i: usize, grouped: bool) -> usize {
    digits_end_in(chars, i, grouped, false)
}

/// As [`digits_end`]; with `mixed`, digits of any script join the number.
fn digits_end_in(chars: &[char], i: usize, grouped: bool, mixed: bool) -> usize {
    let mut j = i;
    let mut digits = 0;
    let first = chars[i];
    let joins = |c: char| {
        if mixed {
            is_digit(c)
        } else {
            same_script_digit(first, c)
        }
    };
    while j < chars.len() {
        if joins(chars[j]) {
            digits += 1;
            j += 1;
            continue;
        }
        if !grouped {
            break;
        }
        let mut k = j;
        while k < chars.len() && k - j < 2 && is_separator(chars[k]) {
            k += 1;
        }
        if k > j && chars.get(k).is_some_and(|c| joins(*c)) {
            j = k;
        } else {
            break;
        }
    }
    if digits == 17 {
        let mut k = j;
        while grouped && k < chars.len() && k - j < 2 && is_separator(chars[k]) {
            k += 1;
        }
        if k < chars.len() && matches!(chars[k], 'X' | 'x' | 'Ｘ' | 'ｘ') {
            return k + 1;
        }
    }
    j
}

/// The mask of a number written with these characters, if it identifies
/// a person (see [`redact`]).
fn mask_number(chars: &[char]) -> Option<String> {
    let d: String = chars
        .iter()
        .filter(|c| !is_separator(**c))
        .map(|&c| half_width(c))
        .collect::<String>()
        .to_ascii_uppercase();
    if looks_like_id_number(&d) {
        Some(id_number(&d))
    } else if d.len() >= 11 && d.bytes().all(|b| b.is_ascii_digit()) {
        Some(keep_ends(&d, 3, 4))
    } else {
        None
    }
}

/// 18 characters (17 digits and a digit or X) or 15 digits whose birth
/// date is a real date: an ID number, even with a wrong check character
/// (a mistyped one is still someone's).
fn looks_like_id_number(s: &str) -> bool {
    let b = s.as_bytes();
    let (date, body_ok) = match b.len() {
        18 => (
            s[6..14].to_string(),
            b[..17].iter().all(u8::is_ascii_digit) && (b[17].is_ascii_digit() || b[17] == b'X'),
        ),
        15 => (format!("19{}", &s[6..12]), b.iter().all(u8::is_ascii_digit)),
        _ => return false,
    };
    body_ok && chrono::NaiveDate::parse_from_str(&date, "%Y%m%d").is_ok()
}

/// Free text as published to anyone (Open311): [`redact`], then every
/// number of three digits or more hidden (room numbers such as 301室,
/// 3-2-301 or 301号房, and what is left of a masked number), so a request
/// cannot be traced to a door or a person.
pub fn public_text(text: &str) -> String {
    let text = redact(text).text;
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if is_digit(chars[i]) {
            let mut j = i;
            while j < chars.len() && same_script_digit(chars[i], chars[j]) {
                j += 1;
            }
            if j - i >= 3 {
                out.extend(std::iter::repeat_n('*', j - i));
            } else {
                out.extend(&chars[i..j]);
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The value of a digit as people type numbers: ASCII and full-width
/// digits, Chinese numerals (〇一二三四五六七八九, 零; a phone read out and
/// typed as words) and the other common decimal scripts (Arabic-Indic,
/// Persian, Devanagari), so that none of them carries a number past the
/// mask.
fn digit_value(c: char) -> Option<u32> {
    digit(c).map(|(value, _)| value)
}

/// A digit's value and its script: ASCII and full-width count as one
/// script (they are mixed in practice); the others make numbers of their
/// own, so that 张三13800138000 keeps its 三.
fn digit(c: char) -> Option<(u32, u8)> {
    const ZEROS: [(char, u8); 5] = [
        ('0', 0),
        ('０', 0),
        ('\u{0660}', 2),
        ('\u{06F0}', 3),
        ('\u{0966}', 4),
    ];
    for (zero, script) in ZEROS {
        let d = (c as u32).wrapping_sub(zero as u32);
        if d < 10 {
            return Some((d, script));
        }
    }
    // Chinese numerals: everyday, formal (大写, also traditional forms),
    // and 幺 for 1 as numbers are read out (幺三九…).
    let value = match c {
        '〇' | '零' => 0,
        '一' | '壹' | '幺' => 1,
        '二' | '贰' | '貳' => 2,
        '三' | '叁' | '參' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' | '陸' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    };
    Some((value, 1))
}

/// Whether a number mixes scripts on purpose (一3九1二3…): its digits
/// change script three times or more, so that 张三13800138000 or
/// 三三13800138000 (a word, then a number) is not one.
fn mixes_scripts(chars: &[char]) -> bool {
    let scripts: Vec<u8> = chars
        .iter()
        .filter_map(|c| digit(*c))
        .map(|(_, s)| s)
        .collect();
    scripts.windows(2).filter(|w| w[0] != w[1]).count() >= 3
}

fn is_digit(c: char) -> bool {
    digit(c).is_some()
}

/// Whether `c` is a digit of the same script as `first`.
fn same_script_digit(first: char, c: char) -> bool {
    matches!((digit(first), digit(c)), (Some((_, a)), Some((_, b))) if a == b)
}

fn half_width(c: char) -> char {
    match c {
        'Ｘ' | 'ｘ' => 'X',
        _ => digit_value(c)
            .and_then(|d| char::from_digit(d, 10))
            .unwrap_or(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_name_shows_its_first_character_and_nothing_of_its_length() {
        assert_eq!(name("王秀英"), "王**");
        assert_eq!(name("李强"), "李**");
        assert_eq!(name("欧阳娜娜"), "欧**");
        assert_eq!(name(" John Smith "), "J**");
        assert_eq!(name("王"), "*");
        assert_eq!(name(""), "");
    }

    #[test]
    fn masks() {
        assert_eq!(id_number("320102199001011234"), "320102************");
        assert_eq!(phone("13812345678"), "138****5678");
        assert_eq!(phone("1234"), "****");
    }

    #[test]
    fn age_bands_are_decades() {
        assert_eq!(age_band(1949, 2026), Some((70, 79)));
        assert_eq!(age_band(2026, 2026), Some((0, 9)));
        assert_eq!(age_band(2030, 2026), None);
        assert_eq!(age_band_label(1960, 2026, true), "60–69岁");
        assert_eq!(age_band_label(1960, 2026, false), "60–69");
    }

    #[test]
    fn redacts_ids_and_phones_in_free_text() {
        let r = redact("我叫张三，身份证11010519491231002X，电话13800138000，楼下漏水");
        assert_eq!(r.found, 2);
        assert_eq!(
            r.text,
            "我叫张三，身份证110105************，电话138****8000，楼下漏水"
        );
        // Full-width digits are digits too.
        let r = redact("电话１３８００１３８０００");
        assert_eq!(r.found, 1);
        assert_eq!(r.text, "电话138****8000");
        // So are Chinese numerals and Arabic-Indic digits.
        let r = redact("电话一三九一二三四五六七八，或١٣٩١٢٣٤٥٦٧٨，住三楼");
        assert_eq!(r.found, 2);
        assert_eq!(r.text, "电话139****5678，或139****5678，住三楼");
        assert_eq!(public_text("一三九一二三四五六七八"), "***********");
        // A numeral beside a number of another script stays a word.
        assert_eq!(redact("张三13800138000").text, "张三138****8000");
        // 幺 for 1, formal numerals, and scripts mixed on purpose.
        for written in [
            "幺三九幺二三四五六七八",
            "壹叁玖壹贰叁肆伍陆柒捌",
            "一3九1二3四5六7八",
        ] {
            assert_eq!(redact(written).text, "139****5678", "{written}");
        }
        assert_eq!(redact("三楼二单元张三一家").text, "三楼二单元张三一家");
    }

    #[test]
    fn public_text_hides_rooms_too() {
        assert_eq!(
            public_text("3栋2单元301室门口漏水，电话13800138000"),
            "3栋2单元***室门口漏水，电话***********"
        );
        assert_eq!(public_text("3-2-301漏水，301号房"), "3-2-***漏水，***号房");
        assert_eq!(public_text("2路公交站牌坏了"), "2路公交站牌坏了");
    }

    #[test]
    fn numbers_written_in_groups_or_next_to_letters_are_found() {
        for (t, want) in [
            ("电话138-0013-8000", "电话138****8000"),
            ("电话138 0013 8000。", "电话138****8000。"),
            ("电话+8613800138000", "电话+861******8000"),
            ("电话(139)12345678", "电话(139****5678"),
            ("电话139.1234.5678", "电话139****5678"),
            ("电话139－1234－5678", "电话139****5678"),
            ("电话139\u{a0}1234\u{200b}5678", "电话139****5678"),
            ("电话013912345678", "电话013*****5678"),
            ("身份证110105194912310021", "身份证110105************"),
            ("身份证110105/19491231/002X", "身份证110105************"),
            ("座机028-85123456", "座机028****3456"),
            ("phone13800138000abc", "phone138****8000abc"),
            ("身份证110105 19491231 002X", "身份证110105************"),
            ("身份证110105-19491231-002x", "身份证110105************"),
            ("id11010519491231002Xabc", "id110105************abc"),
            ("电话13800138000 3栋", "电话138****8000 3栋"),
        ] {
            let r = redact(t);
            assert_eq!(r.text, want, "{t}");
            assert_eq!(r.found, 1, "{t}");
        }
    }

    #[test]
    fn long_numbers_are_masked_whatever_they_are() {
        // A number of 11 digits or more may be someone's (a card, a phone
        // run into another): its middle is hidden.
        assert_eq!(
            redact("卡号 6222021234567890123").text,
            "卡号 622************0123"
        );
        assert_eq!(redact("两个号码1391234567813812345678").found, 1);
        assert!(
            !redact("两个号码1391234567813812345678")
                .text
                .contains("12345678")
        );
    }

    #[test]
    fn leaves_other_numbers_alone() {
        for t in [
            "3栋2单元301室",
            "3-2-301",
            "2026-12-02 13:00 停水",
            "10 20 30 40",
            "工单 2026-1101",
        ] {
            let r = redact(t);
            assert_eq!(r.text, t, "{t}");
            assert_eq!(r.found, 0);
        }
    }

    proptest! {
        /// Whatever the text, the output holds no valid ID number or
        /// mobile number standing alone, and text without digits is untouched.
        #[test]
        fn nothing_personal_survives(s in "[a-z张三，。 ]{0,8}(1[3-9][0-9]{9}|[0-9]{17}[0-9X])?[张，。 ]{0,8}") {
            let r = redact(&s);
            let again = redact(&r.text);
            prop_assert_eq!(again.found, 0, "{} -> {}", s, r.text);
            if !s.chars().any(|c| c.is_ascii_digit()) {
                prop_assert_eq!(r.text, s);
            }
        }

        /// A mobile number however it is grouped (3-4-4 with spaces or
        /// hyphens, or not at all), between any text, loses its middle four.
        #[test]
        fn grouped_phones_are_masked(
            before in "[a-z张三，。 ]{0,6}",
            tail in "[3-9][0-9]{9}",
            sep in prop::sample::select(vec!["", " ", "-"]),
            after in "[张，。]{0,6}",
        ) {
            let phone = format!("1{tail}");
            let written = format!("{}{sep}{}{sep}{}", &phone[..3], &phone[3..7], &phone[7..]);
            let r = redact(&format!("{before}{written}{after}"));
            prop_assert!(r.found >= 1, "{}", r.text);
            let middle = &phone[3..7];
            let shown = format!("{}****{}", &phone[..3], &phone[7..]);
            prop_assert!(r.text.contains(&shown) && !r.text.contains(&format!("{}{sep}{middle}", &phone[..3])), "{}", r.text);
        }
    }
}
