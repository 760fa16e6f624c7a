//! The org tree: city › district › subdistrict (街道) › community (社区) ›
//! zone (片区) › grid (网格). Below the grid the registry continues with
//! compound (小区/院落) › building › unit › dwelling (see [`crate::registry`]).

use serde::{Deserialize, Serialize};

use crate::msg::Msg;

/// A level of the administrative part of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgKind {
    City,
    District,
    Subdistrict,
    Community,
    Zone,
    Grid,
}

impl OrgKind {
    pub const ALL: [OrgKind; 6] = [
        OrgKind::City,
        OrgKind::District,
        OrgKind::Subdistrict,
        OrgKind::Community,
        OrgKind::Zone,
        OrgKind::Grid,
    ];

    pub fn code(self) -> &'static str {
        match self {
            OrgKind::City => "city",
            OrgKind::District => "district",
            OrgKind::Subdistrict => "subdistrict",
            OrgKind::Community => "community",
            OrgKind::Zone => "zone",
            OrgKind::Grid => "grid",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            OrgKind::City => "市",
            OrgKind::District => "区",
            OrgKind::Subdistrict => "街道",
            OrgKind::Community => "社区",
            OrgKind::Zone => "片区",
            OrgKind::Grid => "网格",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Msg> {
        OrgKind::ALL
            .into_iter()
            .find(|k| k.code() == s.trim() || k.label_zh() == s.trim())
            .ok_or_else(|| {
                Msg::new(
                    format!("unknown org level '{s}'"),
                    format!("没有“{s}”这个层级"),
                )
            })
    }

    /// Which kinds may hold this kind directly. A zone is optional, so a grid
    /// may hang from a zone or straight from a community.
    pub fn allowed_parents(self) -> &'static [OrgKind] {
        match self {
            OrgKind::City => &[],
            OrgKind::District => &[OrgKind::City],
            OrgKind::Subdistrict => &[OrgKind::District],
            OrgKind::Community => &[OrgKind::Subdistrict],
            OrgKind::Zone => &[OrgKind::Community],
            OrgKind::Grid => &[OrgKind::Zone, OrgKind::Community],
        }
    }
}

/// A 15-digit grid code as used in practice: 6 digits of district
/// (GB/T 2260), 3 of subdistrict, 3 of community, 3 of grid sequence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GridCode(String);

impl GridCode {
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let s = raw.trim();
        if s.len() != 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Msg::new(
                format!(
                    "grid code '{s}' must be 15 digits (6 district + 3 subdistrict + 3 community + 3 grid)"
                ),
                format!("网格编码“{s}”应为15位数字（区县6位+街道3位+社区3位+网格3位）"),
            ));
        }
        if &s[12..] == "000" || &s[9..12] == "000" || &s[6..9] == "000" {
            return Err(Msg::new(
                format!("grid code '{s}': subdistrict, community and grid sequence may not be 000"),
                format!("网格编码“{s}”：街道、社区和网格序号都不能为000"),
            ));
        }
        Ok(GridCode(s.to_string()))
    }

    pub fn from_parts(district: &str, subdistrict: u32, community: u32, grid: u32) -> Self {
        GridCode(format!("{district}{subdistrict:03}{community:03}{grid:03}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The 6-digit city code (the district's first four digits, then 00).
    pub fn city(&self) -> String {
        format!("{}00", &self.0[..4])
    }
    pub fn district(&self) -> &str {
        &self.0[..6]
    }
    pub fn subdistrict(&self) -> &str {
        &self.0[..9]
    }
    pub fn community(&self) -> &str {
        &self.0[..12]
    }

    /// The codes of the ancestors, from the city down to the community.
    pub fn ancestors(&self) -> [(OrgKind, String); 4] {
        [
            (OrgKind::City, self.city()),
            (OrgKind::District, self.district().to_string()),
            (OrgKind::Subdistrict, self.subdistrict().to_string()),
            (OrgKind::Community, self.community().to_string()),
        ]
    }
}

impl std::fmt::Display for GridCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node's materialised path: the ids from the root down, each followed by
/// '/', e.g. "/1/4/17/". A subtree is every path that starts with the
/// node's own path, which both databases answer as a range scan:
/// `path >= "/1/4/" AND path < "/1/40"` ('0' is the byte after '/').
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrgPath(String);

impl OrgPath {
    pub fn root() -> Self {
        OrgPath("/".into())
    }
    pub fn parse(s: &str) -> Result<Self, Msg> {
        let ok = s.starts_with('/')
            && s.ends_with('/')
            && s.split('/')
                .filter(|p| !p.is_empty())
                .all(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(OrgPath(s.to_string()))
        } else {
            Err(Msg::new(
                format!("'{s}' is not an org path"),
                format!("“{s}”不是组织路径"),
            ))
        }
    }
    pub fn child(&self, id: i64) -> Self {
        OrgPath(format!("{}{id}/", self.0))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The exclusive upper bound of this subtree's paths.
    pub fn subtree_end(&self) -> String {
        let mut end = self.0.clone();
        end.pop();
        end.push('0');
        end
    }
    pub fn contains(&self, other: &OrgPath) -> bool {
        other.0.starts_with(&self.0)
    }
    pub fn ids(&self) -> Vec<i64> {
        self.0.split('/').filter_map(|p| p.parse().ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grid_code_parts() {
        let g = GridCode::parse("510104003012005").unwrap();
        assert_eq!(g.city(), "510100");
        assert_eq!(g.district(), "510104");
        assert_eq!(g.subdistrict(), "510104003");
        assert_eq!(g.community(), "510104003012");
        assert!(GridCode::parse("51010400301200").is_err());
        assert!(GridCode::parse("51010400301200a").is_err());
        assert!(GridCode::parse("510104003012000").is_err());
        assert_eq!(GridCode::from_parts("510104", 3, 12, 5), g);
    }

    #[test]
    fn grid_parents() {
        assert!(
            OrgKind::Grid
                .allowed_parents()
                .contains(&OrgKind::Community)
        );
        assert!(!OrgKind::Grid.allowed_parents().contains(&OrgKind::District));
        assert_eq!(OrgKind::parse("街道").unwrap(), OrgKind::Subdistrict);
    }

    proptest! {
        #[test]
        fn subtree_range_matches_prefix(a in proptest::collection::vec(1i64..200, 1..5),
                                        b in proptest::collection::vec(1i64..200, 1..6)) {
            let pa = a.iter().fold(OrgPath::root(), |p, id| p.child(*id));
            let pb = b.iter().fold(OrgPath::root(), |p, id| p.child(*id));
            let in_range = pb.as_str() >= pa.as_str() && pb.as_str() < pa.subtree_end().as_str();
            prop_assert_eq!(in_range, pa.contains(&pb));
            prop_assert_eq!(pa.contains(&pb), b.starts_with(&a));
        }
    }
}
