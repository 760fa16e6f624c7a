//! The two-level category taxonomy of requests, shipped as data
//! (`data/categories.json`): city-management events in the practice of
//! GB/T 30428 and the matters of community life. Each leaf carries its
//! response time, handling limit and default handling unit kind.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::calendar::Limit;
use crate::msg::Msg;

pub const DEFAULT_CATEGORIES_JSON: &str = include_str!("../data/categories.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub parent: Option<String>,
    /// Hours (working time) within which someone must respond.
    #[serde(default)]
    pub response_hours: Option<u32>,
    #[serde(default)]
    pub limit: Option<Limit>,
    /// Kind of unit that handles it by default (see `unit_kinds`).
    #[serde(default)]
    pub default_unit_kind: Option<String>,
}

impl Category {
    pub fn is_leaf(&self) -> bool {
        self.parent.is_some()
    }
}

/// A category as people read it, with its group: "市容环境 / 暴露垃圾"
/// (English names with `en`); `None` for a code not in `list`.
pub fn path_label(list: &[Category], code: &str, en: bool) -> Option<String> {
    let name = |c: &Category| {
        if en {
            c.name_en.clone()
        } else {
            c.name.clone()
        }
    };
    let c = list.iter().find(|c| c.code == code)?;
    Some(
        match c
            .parent
            .as_ref()
            .and_then(|p| list.iter().find(|x| &x.code == p))
        {
            Some(p) => format!("{} / {}", name(p), name(c)),
            None => name(c),
        },
    )
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Taxonomy {
    pub unit_kinds: BTreeMap<String, String>,
    pub categories: Vec<Category>,
}

impl Taxonomy {
    /// The shipped taxonomy.
    pub fn default_set() -> Result<Self, Msg> {
        Taxonomy::from_json(DEFAULT_CATEGORIES_JSON)
    }

    /// Reads and checks a taxonomy: unique codes, two levels, every leaf
    /// with a response time, a limit and a known unit kind.
    pub fn from_json(text: &str) -> Result<Self, Msg> {
        let t: Taxonomy = serde_json::from_str(text)
            .map_err(|e| Msg::new(format!("categories: {e}"), format!("问题分类格式有误：{e}")))?;
        t.checked()
    }

    /// With one category added, or changed when its code is taken: the
    /// taxonomy as an administrator edits it, one entry at a time.
    pub fn with_category(mut self, c: Category) -> Result<Self, Msg> {
        match self.categories.iter_mut().find(|x| x.code == c.code) {
            Some(x) => *x = c,
            None => self.categories.push(c),
        }
        self.checked()
    }

    /// Without a category (cases that have it keep it). A category with
    /// sub-categories goes only once they have gone.
    pub fn without_category(mut self, code: &str) -> Result<Self, Msg> {
        if self
            .categories
            .iter()
            .any(|c| c.parent.as_deref() == Some(code))
        {
            return Err(Msg::new(
                format!("categories: {code} still has sub-categories; remove them first"),
                format!("问题分类：{code} 下还有分类，请先停用它们"),
            ));
        }
        let before = self.categories.len();
        self.categories.retain(|c| c.code != code);
        if self.categories.len() == before {
            return Err(Msg::new(
                format!("categories: there is no category {code}"),
                format!("问题分类：没有编码为 {code} 的分类"),
            ));
        }
        self.checked()
    }

    /// Checks the rules of a taxonomy (see [`Taxonomy::from_json`]).
    pub fn checked(self) -> Result<Self, Msg> {
        let t = self;
        let mut codes = HashSet::new();
        for c in &t.categories {
            if c.code.trim().is_empty() || c.name.trim().is_empty() {
                return Err(Msg::new(
                    "categories: every category needs a code and a name",
                    "问题分类：每个分类都要有编码和名称",
                ));
            }
            let plain = |x: char| x.is_ascii_alphanumeric() || x == '-' || x == '_';
            if c.code.chars().count() > 16 || !c.code.chars().all(plain) {
                return Err(Msg::new(
                    format!(
                        "categories: code '{}' must be 1 to 16 letters, digits, - or _",
                        c.code
                    ),
                    format!("问题分类：编码“{}”应为1至16位字母、数字、-或_", c.code),
                ));
            }
            if c.name.chars().count() > 40 || c.name_en.chars().count() > 80 {
                return Err(Msg::new(
                    format!(
                        "categories: the name of {} is too long (40 characters, 80 in English)",
                        c.code
                    ),
                    format!(
                        "问题分类：{} 的名称过长（中文最多40字，英文最多80字符）",
                        c.code
                    ),
                ));
            }
            if !codes.insert(c.code.as_str()) {
                return Err(Msg::new(
                    format!("categories: code {} appears twice", c.code),
                    format!("问题分类：编码 {} 重复", c.code),
                ));
            }
        }
        for c in &t.categories {
            if let Some(p) = &c.parent {
                let parent = t.categories.iter().find(|x| &x.code == p);
                match parent {
                    None => {
                        return Err(Msg::new(
                            format!("categories: {} has unknown parent {p}", c.code),
                            format!("问题分类：{} 的上级 {p} 不存在", c.code),
                        ));
                    }
                    Some(x) if x.parent.is_some() => {
                        return Err(Msg::new(
                            format!("categories: {} is deeper than two levels", c.code),
                            format!("问题分类：{} 超过两级", c.code),
                        ));
                    }
                    _ => {}
                }
                if c.response_hours.is_none() || c.limit.is_none() {
                    return Err(Msg::new(
                        format!("categories: {} needs response_hours and limit", c.code),
                        format!("问题分类：{} 须给出响应时限和办理时限", c.code),
                    ));
                }
                // Bounded so that every deadline is a real date (a limit of
                // a hundred million working days overflows the calendar).
                let in_range = |n: u32, max: u32| (1..=max).contains(&n);
                let bounded = c
                    .response_hours
                    .is_some_and(|h| in_range(h, MAX_RESPONSE_HOURS))
                    && match c.limit {
                        Some(Limit::WorkingDays(d)) => in_range(d, MAX_LIMIT_WORKING_DAYS),
                        Some(Limit::WorkingHours(h)) => in_range(h, MAX_LIMIT_WORKING_HOURS),
                        None => false,
                    };
                if !bounded {
                    return Err(Msg::new(
                        format!(
                            "categories: {} needs response_hours from 1 to {MAX_RESPONSE_HOURS} and a limit of 1 to {MAX_LIMIT_WORKING_DAYS} working days or 1 to {MAX_LIMIT_WORKING_HOURS} working hours",
                            c.code
                        ),
                        format!(
                            "问题分类：{} 的响应时限应为1至{MAX_RESPONSE_HOURS}小时，办理时限应为1至{MAX_LIMIT_WORKING_DAYS}个工作日或1至{MAX_LIMIT_WORKING_HOURS}个工作小时",
                            c.code
                        ),
                    ));
                }
                match &c.default_unit_kind {
                    Some(k) if t.unit_kinds.contains_key(k) => {}
                    other => {
                        return Err(Msg::new(
                            format!("categories: {} has unknown unit kind {other:?}", c.code),
                            format!(
                                "问题分类：{} 的承办单位类型“{}”不存在",
                                c.code,
                                other.as_deref().unwrap_or("")
                            ),
                        ));
                    }
                }
            }
        }
        Ok(t)
    }

    pub fn get(&self, code: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.code == code)
    }

    pub fn leaves(&self) -> impl Iterator<Item = &Category> {
        self.categories.iter().filter(|c| c.is_leaf())
    }
}

/// The longest response time: a month of hours.
pub const MAX_RESPONSE_HOURS: u32 = 720;
/// The longest handling limit: a year of working days, or of working hours.
pub const MAX_LIMIT_WORKING_DAYS: u32 = 250;
pub const MAX_LIMIT_WORKING_HOURS: u32 = 2_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_category_is_added_changed_or_removed_with_the_rules_kept() {
        let t = Taxonomy::default_set().unwrap();
        let leaf = t.leaves().next().unwrap().clone();
        let parent = leaf.parent.clone().unwrap();
        let new = Category {
            code: "9901".into(),
            name: "共享单车乱停".into(),
            name_en: "Shared bikes parked badly".into(),
            ..leaf.clone()
        };
        let t2 = t.clone().with_category(new.clone()).unwrap();
        assert_eq!(t2.categories.len(), t.categories.len() + 1);
        // Changing by code replaces; an unknown unit kind is refused.
        let changed = Category {
            response_hours: Some(4),
            ..new.clone()
        };
        let t3 = t2.clone().with_category(changed).unwrap();
        assert_eq!(t3.get("9901").unwrap().response_hours, Some(4));
        let bad = Category {
            default_unit_kind: Some("nobody".into()),
            ..new.clone()
        };
        assert!(
            t2.clone()
                .with_category(bad)
                .unwrap_err()
                .zh
                .contains("9901")
        );
        let bad = Category {
            code: "a b".into(),
            ..new
        };
        assert!(t2.clone().with_category(bad).is_err());
        // A parent with children stays; a leaf goes.
        assert!(t2.clone().without_category(&parent).is_err());
        assert_eq!(
            t2.without_category("9901").unwrap().categories.len(),
            t.categories.len()
        );
        assert!(t.without_category("nope").is_err());
    }

    #[test]
    fn shipped_taxonomy_is_complete() {
        let t = Taxonomy::default_set().unwrap();
        let names: Vec<&str> = t
            .categories
            .iter()
            .filter(|c| !c.is_leaf())
            .map(|c| c.name.as_str())
            .collect();
        for want in [
            "市容环境",
            "宣传广告",
            "施工管理",
            "突发事件",
            "街面秩序",
            "停车管理",
            "噪声扰民",
            "物业管理",
            "养老服务",
            "环境卫生",
            "邻里纠纷",
            "水电气暖",
        ] {
            assert!(names.contains(&want), "{want} missing");
        }
        let gas = t.get("0403").unwrap();
        assert_eq!(gas.limit, Some(Limit::WorkingHours(2)));
        assert!(t.leaves().count() > 40);
    }

    #[test]
    fn bad_taxonomies_are_refused() {
        let dup = r#"{"unit_kinds":{"c":"社区"},"categories":[{"code":"1","name":"a","name_en":"a","parent":null},{"code":"1","name":"b","name_en":"b","parent":null}]}"#;
        assert!(Taxonomy::from_json(dup).unwrap_err().en.contains("twice"));
        let no_limit = r#"{"unit_kinds":{"c":"社区"},"categories":[{"code":"1","name":"a","name_en":"a","parent":null},{"code":"11","name":"b","name_en":"b","parent":"1","default_unit_kind":"c"}]}"#;
        assert!(
            Taxonomy::from_json(no_limit)
                .unwrap_err()
                .en
                .contains("limit")
        );
        for limit in [
            r#"{"working_days":100000000}"#,
            r#"{"working_days":0}"#,
            r#"{"working_hours":4000000000}"#,
        ] {
            let t = format!(
                r#"{{"unit_kinds":{{"c":"社区"}},"categories":[{{"code":"1","name":"a","name_en":"a","parent":null}},{{"code":"11","name":"b","name_en":"b","parent":"1","response_hours":1,"limit":{limit},"default_unit_kind":"c"}}]}}"#
            );
            assert!(
                Taxonomy::from_json(&t)
                    .unwrap_err()
                    .en
                    .contains("working days"),
                "{limit}"
            );
        }
        let bad_unit = r#"{"unit_kinds":{"c":"社区"},"categories":[{"code":"1","name":"a","name_en":"a","parent":null},{"code":"11","name":"b","name_en":"b","parent":"1","response_hours":1,"limit":{"working_days":1},"default_unit_kind":"x"}]}"#;
        assert!(
            Taxonomy::from_json(bad_unit)
                .unwrap_err()
                .en
                .contains("unit kind")
        );
    }
}
