//! The two-level category taxonomy of requests, shipped as data
//! (`data/categories.json`): city-management events in the practice of
//! GB/T 30428 and the matters of community life. Each leaf carries its
//! response time, handling limit and default handling unit kind.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::calendar::Limit;
use crate::msg::Msg;

pub const DEFAULT_CATEGORIES_JSON: &str = include_str!("../data/categories.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        let mut codes = HashSet::new();
        for c in &t.categories {
            if c.code.trim().is_empty() || c.name.trim().is_empty() {
                return Err(Msg::new(
                    "categories: every category needs a code and a name",
                    "问题分类：每个分类都要有编码和名称",
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
