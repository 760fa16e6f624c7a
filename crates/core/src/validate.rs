//! Validation of identifiers used in Chinese community registries.
//!
//! Every check returns a [`Msg`] that says what is wrong, so that an
//! import report can name the row and the field.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::msg::Msg;

fn err<T>(en: impl Into<String>, zh: impl Into<String>) -> Result<T, Msg> {
    Err(Msg::new(en, zh))
}

/// Gender as encoded in a resident ID number (odd 17th digit = male).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub fn code(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }

    /// Accepts the English code, the Chinese word, or the GB/T 2261.1 digit.
    pub fn parse(s: &str) -> Result<Self, Msg> {
        match s.trim().to_ascii_lowercase().as_str() {
            "male" | "m" | "男" | "1" => Ok(Gender::Male),
            "female" | "f" | "女" | "2" => Ok(Gender::Female),
            other => err(
                format!("unknown gender '{other}' (expected 男/女 or male/female)"),
                format!("性别“{other}”无法识别（应为 男 或 女）"),
            ),
        }
    }
}

/// A checked 18-character resident ID number (居民身份证号码, GB 11643-1999).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentId {
    value: String,
    pub birth_date: NaiveDate,
    pub gender: Gender,
}

impl ResidentId {
    pub fn as_str(&self) -> &str {
        &self.value
    }
    /// The 6-digit administrative region code of the place of first registration.
    pub fn region(&self) -> &str {
        &self.value[..6]
    }
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// Province-level codes (first two digits) in GB/T 2260.
const PROVINCES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// The check character for the first 17 digits of an ID number.
pub fn resident_id_check_char(first17: &[u8]) -> Option<char> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(char::from(ID_CHECK[(sum % 11) as usize]))
}

/// Checks a resident ID number against GB 11643: 18 characters, a real
/// province, a real birth date not in the future (relative to `today`), and
/// the mod-11 check character (X allowed, either case).
pub fn resident_id(raw: &str, today: NaiveDate) -> Result<ResidentId, Msg> {
    let value = raw.trim().to_ascii_uppercase();
    let bytes = value.as_bytes();
    let chars = value.chars().count();
    if chars != 18 {
        return err(
            format!("ID number must have 18 characters, found {chars}"),
            format!("身份证号应为 18 位，实为 {chars} 位"),
        );
    }
    // 18 characters but more bytes: some are not ASCII (full-width digits
    // and the like), which the ledger reader converts before this check.
    if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
        return err(
            "ID number: the first 17 characters must be the digits 0-9",
            "身份证号前 17 位应为数字 0-9",
        );
    }
    let last = bytes[17];
    if !(last.is_ascii_digit() || last == b'X') {
        return err(
            "ID number: the last character must be a digit or X",
            "身份证号最后一位应为数字或 X",
        );
    }
    let province: u32 = value[..2].parse().unwrap_or(0);
    if !PROVINCES.contains(&province) {
        return err(
            format!("ID number: unknown province code {}", &value[..2]),
            format!("身份证号的省级代码 {} 不存在", &value[..2]),
        );
    }
    let Some(birth) = NaiveDate::parse_from_str(&value[6..14], "%Y%m%d").ok() else {
        return err(
            format!("ID number: {} is not a real date", &value[6..14]),
            format!("身份证号中的出生日期 {} 不是有效日期", &value[6..14]),
        );
    };
    if birth.year() < 1900 || birth > today {
        return err(
            format!("ID number: birth date {birth} is out of range"),
            format!("身份证号中的出生日期 {birth} 超出合理范围"),
        );
    }
    let expected = resident_id_check_char(&bytes[..17]).unwrap_or('?');
    if char::from(last) != expected {
        return err(
            format!(
                "ID number: check character is {}, expected {expected}",
                char::from(last)
            ),
            format!(
                "身份证号校验位为 {}，按前 17 位应为 {expected}（可能有数字录错）",
                char::from(last)
            ),
        );
    }
    let gender = if (bytes[16] - b'0') % 2 == 1 {
        Gender::Male
    } else {
        Gender::Female
    };
    Ok(ResidentId {
        value,
        birth_date: birth,
        gender,
    })
}

/// Normalises and checks a mainland China mobile number (11 digits, 1[3-9]…).
/// Spaces, dashes and a +86/86 prefix are accepted and removed.
pub fn mobile_phone(raw: &str) -> Result<String, Msg> {
    let mut digits: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    if let Some(rest) = digits.strip_prefix("+86") {
        digits = rest.to_string();
    } else if digits.len() == 13 && digits.starts_with("86") {
        digits = digits[2..].to_string();
    }
    let b = digits.as_bytes();
    if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) {
        return err(
            format!("phone '{}' is not an 11-digit mobile number", raw.trim()),
            format!("手机号“{}”不是 11 位手机号码", raw.trim()),
        );
    }
    if b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
        return err(
            format!(
                "phone '{}' does not start with 13-19 as a mainland mobile number does",
                raw.trim()
            ),
            format!("手机号“{}”应以 13-19 开头", raw.trim()),
        );
    }
    Ok(digits)
}

const USCC_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ORG_CODE_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

fn uscc_value(c: u8) -> Option<u32> {
    USCC_CHARS
        .iter()
        .position(|&x| x == c)
        .and_then(|p| u32::try_from(p).ok())
}

/// The check character for the first 17 characters of a unified social credit code.
pub fn uscc_check_char(first17: &[u8]) -> Option<char> {
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (c, w) in first17.iter().zip(USCC_WEIGHTS) {
        sum += uscc_value(*c)? * w;
    }
    let check = (31 - sum % 31) % 31;
    Some(char::from(USCC_CHARS[check as usize]))
}

/// The check character of a 9-character organisation code (GB 11714) from its first 8.
pub fn org_code_check_char(first8: &[u8]) -> Option<char> {
    if first8.len() != 8 {
        return None;
    }
    let mut sum = 0;
    for (c, w) in first8.iter().zip(ORG_CODE_WEIGHTS) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from_digit(n, 10)?,
    })
}

/// Checks a unified social credit code (统一社会信用代码, GB 32100-2015): 18
/// characters from the 31-character set, a 6-digit region code, the embedded
/// organisation code with its GB 11714 check, and the mod-31 check character.
pub fn uscc(raw: &str) -> Result<String, Msg> {
    let value = raw.trim().to_ascii_uppercase();
    let b = value.as_bytes();
    if b.len() != 18 {
        let n = value.chars().count();
        return err(
            format!("credit code must have 18 characters, found {n}"),
            format!("统一社会信用代码应为 18 位，实为 {n} 位"),
        );
    }
    if let Some(bad) = b.iter().find(|c| uscc_value(**c).is_none()) {
        return err(
            format!(
                "credit code: character '{}' is not allowed (I, O, Z, S, V are never used)",
                char::from(*bad)
            ),
            format!(
                "统一社会信用代码不能含字符“{}”（不使用 I、O、Z、S、V）",
                char::from(*bad)
            ),
        );
    }
    if !b[2..8].iter().all(u8::is_ascii_digit) {
        return err(
            "credit code: characters 3-8 must be a region code of digits",
            "统一社会信用代码第 3-8 位应为数字的行政区划码",
        );
    }
    if org_code_check_char(&b[8..16]) != Some(char::from(b[16])) {
        return err(
            "credit code: the embedded organisation code (characters 9-17) fails its check",
            "统一社会信用代码第 9-17 位（组织机构代码）校验不通过",
        );
    }
    let expected = uscc_check_char(&b[..17]).unwrap_or('?');
    if char::from(b[17]) != expected {
        return err(
            format!(
                "credit code: check character is {}, expected {expected}",
                char::from(b[17])
            ),
            format!(
                "统一社会信用代码校验位为 {}，应为 {expected}",
                char::from(b[17])
            ),
        );
    }
    Ok(value)
}

/// A date as written in registries: 2024-03-01, 2024/3/1 or 20240301.
pub fn date(raw: &str) -> Result<NaiveDate, Msg> {
    let s = raw.trim();
    for fmt in ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Ok(d);
        }
    }
    err(
        format!("'{s}' is not a date (expected YYYY-MM-DD)"),
        format!("“{s}”不是日期（应为 YYYY-MM-DD，如 1962-04-14）"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    #[test]
    fn accepts_known_good_id_numbers() {
        // The worked example of GB 11643 and a Beijing X-check example.
        let id = resident_id("11010519491231002X", today()).unwrap();
        assert_eq!(
            id.birth_date,
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.gender, Gender::Female);
        assert_eq!(id.region(), "110105");
        let id = resident_id("440524188001010014", today());
        assert!(id.is_err(), "born before 1900 is refused");
        let id = resident_id("11010519491231002x", today()).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn refuses_bad_id_numbers_with_reason() {
        let e = resident_id("110105194912310021", today()).unwrap_err();
        assert!(e.en.contains("expected X"), "{e}");
        let e = resident_id("1101051949123100", today()).unwrap_err();
        assert!(e.en.contains("18 characters"), "{e}");
        let e = resident_id("110105194902300020", today()).unwrap_err();
        assert!(e.en.contains("not a real date"), "{e}");
        let e = resident_id("990105194912310020", today()).unwrap_err();
        assert!(e.en.contains("province"), "{e}");
        let e = resident_id("11010520991231002X", today()).unwrap_err();
        assert!(e.en.contains("out of range"), "{e}");
    }

    #[test]
    fn phones() {
        assert_eq!(mobile_phone("138 0013 8000").unwrap(), "13800138000");
        assert_eq!(mobile_phone("+86-139-1234-5678").unwrap(), "13912345678");
        assert_eq!(mobile_phone("8613912345678").unwrap(), "13912345678");
        assert!(mobile_phone("12012345678").is_err());
        assert!(mobile_phone("1381234567").is_err());
        assert!(mobile_phone("028-85551234").is_err());
    }

    #[test]
    fn credit_codes() {
        // The worked example commonly cited for GB 32100.
        assert!(uscc("91350100M000100Y43").is_ok());
        let e = uscc("91350100M000100Y44").unwrap_err();
        assert!(e.en.contains("expected 3"), "{e}");
        assert!(uscc("91350100M000100YI3").is_err());
        assert!(uscc("9135").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(
            date("2024/3/1").unwrap(),
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
        );
        assert_eq!(
            date("20240301").unwrap(),
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
        );
        assert!(date("2024-02-30").is_err());
    }

    proptest! {
        #[test]
        fn any_id_with_computed_check_is_accepted(
            prov in proptest::sample::select(PROVINCES.to_vec()),
            rest in 0u32..10_000,
            days in 0i64..40_000,
            seq in 0u32..1000,
        ) {
            let birth = NaiveDate::from_ymd_opt(1910, 1, 1).unwrap() + chrono::Duration::days(days);
            let first17 = format!("{prov:02}{rest:04}{}{seq:03}", birth.format("%Y%m%d"));
            let check = resident_id_check_char(first17.as_bytes()).unwrap();
            let full = format!("{first17}{check}");
            let id = resident_id(&full, today()).unwrap();
            prop_assert_eq!(id.birth_date, birth);
            prop_assert_eq!(id.gender == Gender::Male, seq % 2 == 1);
            // Any single wrong check character is refused.
            for c in "0123456789X".chars().filter(|c| *c != check) {
                let bad = format!("{first17}{c}");
                prop_assert!(resident_id(&bad, today()).is_err());
            }
        }

        #[test]
        fn any_uscc_with_computed_checks_is_accepted(
            head in "[159Y][123]",
            region in 100_000u32..999_999,
            org in "[0-9A-Z]{8}",
        ) {
            let org_check = org_code_check_char(org.as_bytes()).unwrap();
            let first17 = format!("{head}{region}{org}{org_check}");
            prop_assume!(first17.bytes().all(|c| uscc_value(c).is_some()));
            let check = uscc_check_char(first17.as_bytes()).unwrap();
            let full = format!("{first17}{check}");
            prop_assert!(uscc(&full).is_ok(), "{}", full);
        }
    }
}
