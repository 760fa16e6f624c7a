//! A request as it comes in: the channel it came by, the code people see,
//! and the checks of its text.

use chrono::{FixedOffset, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::msg::Msg;

/// Where a request came from. Each case keeps its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 居民自报: the resident, on the portal or app.
    SelfReport,
    /// 网格巡查: a grid member on patrol.
    GridPatrol,
    /// 一窗受理: the community's counter.
    Counter,
    /// 12345 热线: imported from the city hotline.
    #[serde(rename = "hotline_12345")]
    Hotline12345,
    /// 民生工作站: livelihood station visit.
    LivelihoodStation,
    /// Other systems through the API or Open311.
    Api,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::SelfReport,
        Channel::GridPatrol,
        Channel::Counter,
        Channel::Hotline12345,
        Channel::LivelihoodStation,
        Channel::Api,
    ];

    /// The spelling in the database and in JSON.
    pub fn code(self) -> &'static str {
        match self {
            Channel::SelfReport => "self_report",
            Channel::GridPatrol => "grid_patrol",
            Channel::Counter => "counter",
            Channel::Hotline12345 => "hotline_12345",
            Channel::LivelihoodStation => "livelihood_station",
            Channel::Api => "api",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Channel::SelfReport => "居民自报",
            Channel::GridPatrol => "网格巡查",
            Channel::Counter => "一窗受理",
            Channel::Hotline12345 => "12345热线",
            Channel::LivelihoodStation => "民生工作站",
            Channel::Api => "系统接入",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Channel::SelfReport => "Resident's own report",
            Channel::GridPatrol => "Grid patrol",
            Channel::Counter => "One-window counter",
            Channel::Hotline12345 => "12345 hotline",
            Channel::LivelihoodStation => "Livelihood station",
            Channel::Api => "Connected system",
        }
    }

    pub fn parse(s: &str) -> Result<Channel, Msg> {
        Channel::ALL
            .into_iter()
            .find(|c| c.code() == s.trim())
            .ok_or_else(|| {
                Msg::new(
                    format!(
                        "unknown channel '{s}' (expected one of: {})",
                        Channel::ALL.map(|c| c.code()).join(", ")
                    ),
                    format!("没有“{s}”这个来源渠道"),
                )
            })
    }
}

/// The code people see: GD, the registration day in Beijing, the id
/// (at least 7 digits), e.g. GD202611220000042.
pub fn case_code(id: i64, created_at_ms: i64) -> String {
    let beijing =
        FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is valid"));
    let day = Utc
        .timestamp_millis_opt(created_at_ms)
        .single()
        .unwrap_or_default()
        .with_timezone(&beijing)
        .format("%Y%m%d");
    format!("GD{day}{id:07}")
}

/// The id inside a case code, if the code is well formed.
pub fn id_from_code(code: &str) -> Option<i64> {
    let rest = code.trim().strip_prefix("GD")?;
    if rest.len() < 9 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest[8..].parse().ok()
}

/// The longest description a request may have.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// The longest title.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest address, reporter name and external id: an address is a
/// line, a name (of a person or an organisation) a few dozen characters,
/// a hotline ticket id a few dozen.
pub const MAX_ADDRESS_CHARS: usize = 300;
pub const MAX_REPORTER_NAME_CHARS: usize = 100;
pub const MAX_EXTERNAL_ID_CHARS: usize = 64;
/// The longest set of other contact details (an e-mail and a device id).
pub const MAX_CONTACT_CHARS: usize = 300;
/// A channel's extra facts: how many, and how long a name and a value.
pub const MAX_DETAILS: usize = 20;
pub const MAX_DETAIL_NAME_CHARS: usize = 40;
pub const MAX_DETAIL_VALUE_CHARS: usize = 1000;

/// Checks a channel's extra facts (Open311 attributes, a photo link):
/// a bounded number of named, bounded values.
pub fn check_details(
    details: &std::collections::BTreeMap<String, String>,
) -> Result<(), (&'static str, Msg)> {
    if details.len() > MAX_DETAILS {
        return Err((
            "details",
            Msg::new(
                format!("has {} entries; at most {MAX_DETAILS}", details.len()),
                format!("附加信息有{}项，最多{MAX_DETAILS}项", details.len()),
            ),
        ));
    }
    for (name, value) in details {
        if name.trim().is_empty() || name.chars().count() > MAX_DETAIL_NAME_CHARS {
            return Err((
                "details",
                Msg::new(
                    format!("'{name}' is not a name of 1 to {MAX_DETAIL_NAME_CHARS} characters"),
                    format!("附加信息名“{name}”应为1至{MAX_DETAIL_NAME_CHARS}个字"),
                ),
            ));
        }
        if value.chars().count() > MAX_DETAIL_VALUE_CHARS {
            return Err((
                "details",
                Msg::new(
                    format!("'{name}' is longer than {MAX_DETAIL_VALUE_CHARS} characters"),
                    format!("附加信息“{name}”超过{MAX_DETAIL_VALUE_CHARS}个字"),
                ),
            ));
        }
    }
    Ok(())
}

/// A short field of a request, trimmed; empty is none, longer than `max`
/// characters is refused with the field's name.
pub fn short_field(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, (&'static str, Msg)> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max => Err((field, Msg::too_long(max, v.chars().count()))),
        Some(v) => Ok(Some(v.to_string())),
        None => Ok(None),
    }
}

/// A title made from the description is its first this many characters.
const TITLE_FROM_DESCRIPTION_CHARS: usize = 30;

/// A request's text, checked: the description is required and bounded, the
/// title bounded, and made from the start of the description when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestText {
    pub title: String,
    pub description: String,
}

impl RequestText {
    /// The field at fault and why, when the text is refused.
    pub fn check(
        description: &str,
        title: Option<&str>,
    ) -> Result<RequestText, (&'static str, Msg)> {
        let description = description.trim();
        if description.is_empty() {
            return Err(("description", Msg::required()));
        }
        let chars = description.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            return Err(("description", Msg::too_long(MAX_DESCRIPTION_CHARS, chars)));
        }
        let title = match title.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) if t.chars().count() > MAX_TITLE_CHARS => {
                return Err(("title", Msg::too_long(MAX_TITLE_CHARS, t.chars().count())));
            }
            Some(t) => t.to_string(),
            None => description
                .chars()
                .take(TITLE_FROM_DESCRIPTION_CHARS)
                .collect(),
        };
        Ok(RequestText {
            title,
            description: description.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn details_are_bounded() {
        use std::collections::BTreeMap;
        let mut d: BTreeMap<String, String> = BTreeMap::new();
        d.insert("urgency".into(), "urgent".into());
        assert!(check_details(&d).is_ok());
        d.insert("media_url".into(), "x".repeat(MAX_DETAIL_VALUE_CHARS + 1));
        assert_eq!(check_details(&d).unwrap_err().0, "details");
        d.remove("media_url");
        d.insert(" ".into(), "v".into());
        assert!(check_details(&d).unwrap_err().1.en.contains("not a name"));
        let many: BTreeMap<String, String> = (0..=MAX_DETAILS)
            .map(|i| (format!("a{i}"), String::new()))
            .collect();
        assert!(check_details(&many).unwrap_err().1.en.contains("entries"));
    }

    #[test]
    fn short_fields_are_trimmed_and_bounded() {
        assert_eq!(
            short_field("address", Some("  3栋 "), 5),
            Ok(Some("3栋".into()))
        );
        assert_eq!(short_field("address", Some("   "), 5), Ok(None));
        assert_eq!(short_field("address", None, 5), Ok(None));
        assert_eq!(
            short_field("address", Some("一二三四五六"), 5),
            Err(("address", Msg::too_long(5, 6)))
        );
    }

    #[test]
    fn codes_round_trip() {
        // 2026-11-22 20:00 UTC is 23-Nov 04:00 in Beijing.
        let t = Utc
            .with_ymd_and_hms(2026, 11, 22, 20, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(case_code(42, t), "GD202611230000042");
        assert_eq!(id_from_code("GD202611230000042"), Some(42));
        assert_eq!(id_from_code("GD2026112312345678"), Some(12345678));
        assert_eq!(id_from_code("XX202611230000042"), None);
        assert_eq!(id_from_code("GD2026"), None);
    }

    #[test]
    fn channels() {
        assert_eq!(
            Channel::parse("hotline_12345").unwrap(),
            Channel::Hotline12345
        );
        assert!(Channel::parse("fax").is_err());
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.code()).unwrap(), c);
            // The JSON spelling is the database spelling.
            assert_eq!(serde_json::to_value(c).unwrap(), c.code());
        }
    }

    #[test]
    fn request_text() {
        assert_eq!(RequestText::check("  ", None).unwrap_err().0, "description");
        let long = "字".repeat(MAX_DESCRIPTION_CHARS + 1);
        assert_eq!(
            RequestText::check(&long, None).unwrap_err().0,
            "description"
        );
        let t = "题".repeat(MAX_TITLE_CHARS + 1);
        assert_eq!(RequestText::check("x", Some(&t)).unwrap_err().0, "title");
        let ok = RequestText::check(
            " 楼道里堆满了杂物，影响通行，请尽快清理，谢谢！已经反映过三次了，一直没人管 ",
            Some(" "),
        )
        .unwrap();
        assert_eq!(ok.title.chars().count(), 30);
        assert!(ok.description.starts_with("楼道"));
        assert_eq!(
            RequestText::check("x", Some(" 标题 ")).unwrap().title,
            "标题"
        );
    }

    proptest! {
        #[test]
        fn any_code_gives_back_its_id(id in 0i64..=99_999_999_999, t in 0i64..4_102_444_800_000) {
            prop_assert_eq!(id_from_code(&case_code(id, t)), Some(id));
        }
    }
}
