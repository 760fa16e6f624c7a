//! Registry (百姓档案) vocabulary: relations to a dwelling, people tags and
//! compound management modes, each with a stable code and a Chinese label.

use serde::{Deserialize, Serialize};

use crate::msg::Msg;

macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $code:literal, $zh:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }
            /// Accepts the code or the Chinese label.
            pub fn parse(s: &str) -> Result<Self, Msg> {
                let t = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.code() == t || v.label_zh() == t)
                    .ok_or_else(|| Msg::new(
                        format!(
                            "unknown {} '{t}' (expected one of: {})",
                            stringify!($name),
                            Self::ALL.iter().map(|v| format!("{}/{}", v.label_zh(), v.code())).collect::<Vec<_>>().join(", ")
                        ),
                        format!(
                            "“{t}”无法识别，应为：{}",
                            Self::ALL.iter().map(|v| v.label_zh()).collect::<Vec<_>>().join("、")
                        ),
                    ))
            }
        }
    };
}

coded_enum!(
    /// How a person relates to the dwelling they are registered at.
    Relation {
        Owner => "owner", "业主";
        Tenant => "tenant", "租户";
        Resident => "resident", "居住";
    }
);

coded_enum!(
    /// Tags that tell a grid member whom to look after first.
    Tag {
        ElderlyAlone => "elderly_alone", "独居老人";
        Elderly => "elderly", "老年人";
        Difficulty => "difficulty", "困难家庭";
        Disability => "disability", "残疾人";
        Floating => "floating", "流动人口";
        PartyMember => "party_member", "党员";
        Volunteer => "volunteer", "志愿者";
        Veteran => "veteran", "退役军人";
        LeftBehindChild => "left_behind_child", "留守儿童";
        KeyCare => "key_care", "重点关注";
    }
);

coded_enum!(
    /// Compound management mode in the compound ledger (一院一档).
    ManagementMode {
        PropertyCompany => "property_company", "物业管理";
        SelfManaged => "self_managed", "自治管理";
        None => "none", "无物业";
    }
);

/// Parses a tag list as written in a spreadsheet cell: separated by
/// commas, semicolons, 、 or spaces; duplicates removed.
pub fn parse_tags(cell: &str) -> Result<Vec<Tag>, Msg> {
    let mut out = Vec::new();
    for part in cell
        .split([',', ';', '，', '；', '、', ' ', '|'])
        .filter(|p| !p.trim().is_empty())
    {
        let t = Tag::parse(part)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// The longest tag a district may add.
pub const MAX_TAG_CHARS: usize = 20;

/// Checks a tag a district adds to the built-in ones (低保户, 空巢老人 …):
/// one to [`MAX_TAG_CHARS`] characters, none of the separators a cell
/// splits tags on, and not a built-in tag under another spelling.
pub fn district_tag(raw: &str) -> Result<String, Msg> {
    let t = crate::ledger::half_width(raw.trim()).into_owned();
    if t.is_empty() || t.chars().count() > MAX_TAG_CHARS {
        return Err(Msg::new(
            format!("tag '{t}' must have 1 to {MAX_TAG_CHARS} characters"),
            format!("标签“{t}”应为 1 到 {MAX_TAG_CHARS} 个字"),
        ));
    }
    if t.contains([',', ';', '，', '；', '、', ' ', '|', '/']) {
        return Err(Msg::new(
            format!("tag '{t}' contains a separator (, ; 、 space | /)"),
            format!("标签“{t}”中含有分隔符（，；、空格 | /）"),
        ));
    }
    if let Ok(b) = Tag::parse(&t) {
        return Err(Msg::new(
            format!("tag '{t}' is the built-in tag {}", b.label_zh()),
            format!("标签“{t}”已是内置标签“{}”", b.label_zh()),
        ));
    }
    Ok(t)
}

/// The tags a worker gives a person (a built-in tag by code or label, a
/// district tag as listed): built-in ones by their code, district ones as
/// written, duplicates dropped. A district tag must be on the district's
/// list, or already on the person (a tag dropped from the list stays on
/// those who have it until someone removes it).
pub fn person_tags(
    chosen: &[String],
    listed: &[String],
    had: &[String],
) -> Result<Vec<String>, Msg> {
    let mut out: Vec<String> = Vec::new();
    for raw in chosen {
        let t = crate::ledger::half_width(raw.trim()).into_owned();
        if t.is_empty() {
            continue;
        }
        let tag = match Tag::parse(&t) {
            Ok(b) => b.code().to_string(),
            Err(_) if listed.contains(&t) || had.contains(&t) => t,
            Err(_) => {
                return Err(Msg::new(
                    format!("tag '{t}' is neither built in nor on the district's list"),
                    format!("标签“{t}”既不是内置标签，也不在本区的标签列表中（请先在管理页添加）"),
                ));
            }
        };
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// A relation to the head of the household as a ledger writes it (户主,
/// 配偶, 子女 …): up to 10 characters, or none.
pub fn head_relation(raw: &str) -> Result<Option<String>, Msg> {
    let t = crate::ledger::half_width(raw.trim()).into_owned();
    if t.chars().count() > 10 {
        return Err(Msg::new(
            format!("relation to the head '{t}' has more than 10 characters"),
            format!("与户主关系“{t}”超过10个字"),
        ));
    }
    Ok(Some(t).filter(|t| !t.is_empty()))
}

/// Floor area in square metres, as used for owners' votes (Civil Code art. 278).
#[expect(
    clippy::map_err_ignore,
    reason = "the message names the value and the form it must take"
)]
pub fn floor_area(raw: &str) -> Result<f64, Msg> {
    let v: f64 = raw
        .trim()
        .trim_end_matches("㎡")
        .trim_end_matches("m2")
        .trim()
        .parse()
        .map_err(|_| {
            Msg::new(
                format!("floor area '{}' is not a number", raw.trim()),
                format!("建筑面积“{}”不是数字", raw.trim()),
            )
        })?;
    if !(v > 0.0 && v < 100_000.0) {
        return Err(Msg::new(
            format!("floor area {v} must be greater than 0 and below 100000 ㎡"),
            format!("建筑面积 {v} 应大于 0 且小于 100000 ㎡"),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_tags_take_labels_codes_and_listed_tags_only() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let listed = s(&["低保户"]);
        assert_eq!(
            person_tags(
                &s(&["独居老人", "elderly_alone", " 低保户 ", ""]),
                &listed,
                &[]
            )
            .unwrap(),
            s(&["elderly_alone", "低保户"])
        );
        // Not listed: refused, naming the tag, unless the person has it.
        let e = person_tags(&s(&["空巢老人"]), &listed, &[]).unwrap_err();
        assert!(e.zh.contains("空巢老人"), "{}", e.zh);
        assert_eq!(
            person_tags(&s(&["空巢老人"]), &listed, &s(&["空巢老人"])).unwrap(),
            s(&["空巢老人"])
        );
    }

    #[test]
    fn head_relations_are_short_or_none() {
        assert_eq!(head_relation(" 配偶 ").unwrap().as_deref(), Some("配偶"));
        assert_eq!(head_relation("  ").unwrap(), None);
        assert!(head_relation("一二三四五六七八九十一").is_err());
    }

    #[test]
    fn district_tags_are_checked() {
        assert_eq!(district_tag(" 低保户 ").unwrap(), "低保户");
        assert!(district_tag("").is_err());
        assert!(district_tag(&"长".repeat(MAX_TAG_CHARS + 1)).is_err());
        assert!(
            district_tag("低保、特困")
                .unwrap_err()
                .zh
                .contains("分隔符")
        );
        assert!(district_tag("党员").unwrap_err().zh.contains("内置"));
        assert!(district_tag("party_member").is_err());
    }

    #[test]
    fn tags_from_cells() {
        assert_eq!(
            parse_tags("独居老人、党员, party_member").unwrap(),
            vec![Tag::ElderlyAlone, Tag::PartyMember]
        );
        assert!(parse_tags("").unwrap().is_empty());
        let e = parse_tags("独居老人,富豪").unwrap_err();
        assert!(e.en.contains("富豪"), "{e}");
    }

    #[test]
    fn relations_and_modes() {
        assert_eq!(Relation::parse("业主").unwrap(), Relation::Owner);
        assert_eq!(
            ManagementMode::parse("self_managed").unwrap(),
            ManagementMode::SelfManaged
        );
        assert!(Relation::parse("landlord").is_err());
    }

    #[test]
    fn areas() {
        assert_eq!(floor_area("89.5㎡").unwrap(), 89.5);
        assert!(floor_area("-3").is_err());
        assert!(floor_area("abc").is_err());
    }
}
