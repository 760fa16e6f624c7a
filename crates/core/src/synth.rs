//! A deterministic synthetic city for demos, tests and benchmarks.
//!
//! The same `(people, seed)` always gives the same city. The plan (org tree
//! and grid polygons) is small and built at once; the registry is produced
//! one grid at a time so that 21 million people stream in constant memory.
//!
//! Shapes follow practice: a grid of about 300 households (≈780 people), six
//! grids to a community in two zones (片区), nine communities to a
//! subdistrict, sixteen subdistricts to a district. Grid polygons tile the
//! plane: neighbouring grids share their jittered boundary vertices.

use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDate};

use crate::org::{GridCode, OrgKind};
use crate::registry::{ManagementMode, Relation, Tag};
use crate::rng::SplitMix64;
use crate::validate::{Gender, resident_id_check_char};

pub const PEOPLE_PER_GRID: u64 = 780;
const GRIDS_PER_COMMUNITY: u64 = 6; // 2 columns × 3 rows, one zone per column
const COMMUNITIES_PER_SUBDISTRICT: u64 = 9; // 3 × 3
const SUBDISTRICTS_PER_DISTRICT: u64 = 16; // 4 × 4
/// Cell size of one grid in degrees (≈380 m × 390 m near Chengdu).
const CELL_LON: f64 = 0.004;
const CELL_LAT: f64 = 0.0035;
const ORIGIN_LON: f64 = 103.90;
const ORIGIN_LAT: f64 = 30.55;

/// One node of the planned org tree; `parent` indexes into [`CityPlan::nodes`].
#[derive(Debug, Clone)]
pub struct PlannedOrg {
    pub parent: Option<usize>,
    pub kind: OrgKind,
    pub code: String,
    pub name: String,
    /// Outer ring, closed (first == last), lon/lat, for grids only.
    pub polygon: Option<Vec<(f64, f64)>>,
}

#[derive(Debug, Clone)]
pub struct CityPlan {
    pub nodes: Vec<PlannedOrg>,
    /// Indexes of the grid nodes, in generation order.
    pub grids: Vec<usize>,
    /// People per grid (sums to the requested total).
    pub grid_people: Vec<u64>,
    grid_cells: Vec<(u64, u64)>,
}

#[derive(Debug, Clone)]
pub struct SynthPerson {
    pub name: String,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    pub id_number: String,
    pub phone: Option<String>,
    pub relation: Relation,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone)]
pub struct SynthHousehold {
    pub people: Vec<SynthPerson>,
}

#[derive(Debug, Clone)]
pub struct SynthDwelling {
    pub unit_no: String,
    pub room_no: String,
    pub floor_area: f64,
    pub households: Vec<SynthHousehold>,
}

#[derive(Debug, Clone)]
pub struct SynthBuilding {
    pub name: String,
    pub lon: f64,
    pub lat: f64,
    pub dwellings: Vec<SynthDwelling>,
}

#[derive(Debug, Clone)]
pub struct SynthCompound {
    pub name: String,
    pub address: String,
    pub mode: ManagementMode,
    pub property_company: Option<String>,
    pub facilities: String,
    pub known_problems: String,
    pub lon: f64,
    pub lat: f64,
    pub buildings: Vec<SynthBuilding>,
}

/// Everything registered in one grid.
#[derive(Debug, Clone)]
pub struct SynthGrid {
    /// Index of the grid in [`CityPlan::nodes`].
    pub node: usize,
    pub compounds: Vec<SynthCompound>,
}

impl SynthGrid {
    pub fn people(&self) -> impl Iterator<Item = &SynthPerson> {
        self.compounds
            .iter()
            .flat_map(|c| &c.buildings)
            .flat_map(|b| &b.dwellings)
            .flat_map(|d| &d.households)
            .flat_map(|h| &h.people)
    }
}

const DISTRICT_NAMES: [&str; 12] = [
    "锦江区",
    "青羊区",
    "金牛区",
    "武侯区",
    "成华区",
    "龙泉驿区",
    "青白江区",
    "新都区",
    "温江区",
    "双流区",
    "郫都区",
    "新津区",
];
const PLACE_WORDS: [&str; 40] = [
    "春熙", "书院", "合江", "牛市", "督院", "盐市", "草堂", "府南", "光华", "金沙", "黄田", "芳草",
    "玉林", "浆洗", "望江", "晋阳", "红牌", "簇桥", "双桥", "猛追", "府青", "建设", "桂溪", "石羊",
    "华阳", "中和", "锦城", "天府", "东湖", "桐梓", "水井", "莲花", "长顺", "宽窄", "青龙", "白莲",
    "荷花", "沙河", "新鸿", "龙潭",
];
const COMPOUND_WORDS: [&str; 24] = [
    "锦苑",
    "花园",
    "小区",
    "家园",
    "雅居",
    "嘉园",
    "华庭",
    "新村",
    "公寓",
    "名城",
    "丽景",
    "翠苑",
    "和院",
    "阳光城",
    "水岸",
    "东苑",
    "西苑",
    "福苑",
    "安居苑",
    "馨园",
    "宿舍",
    "大院",
    "枫林",
    "怡园",
];
/// The most common surnames, roughly by frequency (repeats weight them).
const SURNAMES: [&str; 64] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "王", "李", "张", "刘", "陈", "杨",
    "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许",
    "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜",
    "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪",
];
const GIVEN: [&str; 80] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "兰", "建", "国", "文", "辉", "红", "梅",
    "鑫", "宇", "浩", "婷", "雪", "琳", "欣", "怡", "子", "轩", "涵", "晨", "阳", "博", "睿", "思",
    "佳", "雨", "嘉", "俊", "志", "海", "波", "燕", "萍", "春", "成", "林", "德", "福", "荣", "淑",
    "珍", "凤", "莉", "琴", "云", "飞", "鹏", "斌", "亮", "健", "晓", "慧", "颖", "彬", "楠", "昊",
];
const COMPANIES: [&str; 6] = [
    "蜀信物业",
    "锦城物业服务有限公司",
    "天府物业",
    "安居物业",
    "万家物业",
    "和美物业",
];
const FACILITIES: [&str; 6] = ["电梯", "门禁", "监控", "充电桩", "健身器材", "消防栓"];
const PROBLEMS: [&str; 6] = [
    "停车位不足",
    "雨污管网老化",
    "楼道堆物",
    "无障碍设施缺失",
    "化粪池渗漏",
    "外墙脱落",
];

/// Stateful generator; grids must be asked for in order 0, 1, 2… so that
/// the per-birthday sequence numbers (and thus ID numbers) stay unique.
pub struct Synth {
    seed: u64,
    plan: CityPlan,
    /// (region, days since 1900) → next sequence number for ID numbers.
    id_seq: HashMap<(u32, u32), u16>,
    today: NaiveDate,
}

impl Synth {
    pub fn new(people: u64, seed: u64, today: NaiveDate) -> Self {
        Synth {
            seed,
            plan: plan(people, seed),
            id_seq: HashMap::new(),
            today,
        }
    }

    pub fn plan(&self) -> &CityPlan {
        &self.plan
    }

    /// The registry of the `i`-th grid.
    pub fn grid(&mut self, i: usize) -> SynthGrid {
        let node = self.plan.grids[i];
        let want = self.plan.grid_people[i];
        let (gx, gy) = self.plan.grid_cells[i];
        let region: u32 = self.plan.nodes[node].code[..6].parse().unwrap_or(510104);
        let mut rng = SplitMix64::new(self.seed).fork(0x6772_6964 + i as u64);
        let community = self.plan.nodes[node]
            .parent
            .and_then(|z| self.plan.nodes[z].parent)
            .map(|c| self.plan.nodes[c].name.clone())
            .unwrap_or_default();
        let mut made = 0u64;
        let mut compounds: Vec<SynthCompound> = Vec::new();
        let n_compounds = rng.range(1, 3);
        let mut compound_no = 0;
        while made < want {
            compound_no += 1;
            // The last compound takes whatever is left.
            let share = if compound_no >= n_compounds {
                want - made
            } else {
                (want / n_compounds).max(1)
            };
            let (lon, lat) = interior_point(gx, gy, &mut rng);
            let mode = match rng.below(10) {
                0..=5 => ManagementMode::PropertyCompany,
                6..=7 => ManagementMode::SelfManaged,
                _ => ManagementMode::None,
            };
            let mut name = format!("{}{}", rng.pick(&PLACE_WORDS), rng.pick(&COMPOUND_WORDS));
            // Compound names are unique within a grid (the ledger's key).
            if compounds.iter().any(|c: &SynthCompound| c.name == name) {
                name = format!("{name}{}期", chinese_number(compound_no));
            }
            let mut compound = SynthCompound {
                address: format!("{community}{}号", rng.range(1, 399)),
                name,
                mode,
                property_company: (mode == ManagementMode::PropertyCompany)
                    .then(|| rng.pick(&COMPANIES).to_string()),
                facilities: pick_some(&mut rng, &FACILITIES, 3),
                known_problems: pick_some(&mut rng, &PROBLEMS, 2),
                lon,
                lat,
                buildings: Vec::new(),
            };
            let mut compound_made = 0;
            let mut building_no = 0;
            while compound_made < share {
                building_no += 1;
                let floors = rng.range(6, 18);
                let units = rng.range(1, 3);
                let per_floor = 2;
                let mut b = SynthBuilding {
                    name: format!("{building_no}栋"),
                    lon: lon + (rng.unit() - 0.5) * CELL_LON * 0.1,
                    lat: lat + (rng.unit() - 0.5) * CELL_LAT * 0.1,
                    dwellings: Vec::new(),
                };
                'fill: for unit in 1..=units {
                    for floor in 1..=floors {
                        for r in 1..=per_floor {
                            if compound_made >= share {
                                break 'fill;
                            }
                            let mut d = SynthDwelling {
                                unit_no: format!("{unit}单元"),
                                room_no: format!("{floor}{r:02}"),
                                floor_area: (rng.range(450, 1600) as f64) / 10.0,
                                households: Vec::new(),
                            };
                            // About one dwelling in ten stands empty.
                            if !rng.chance(0.1) {
                                let left = share - compound_made;
                                let h = self.household(&mut rng, region, left);
                                compound_made += h.people.len() as u64;
                                d.households.push(h);
                            }
                            b.dwellings.push(d);
                        }
                    }
                }
                compound.buildings.push(b);
            }
            made += compound_made;
            compounds.push(compound);
        }
        SynthGrid { node, compounds }
    }

    fn household(&mut self, rng: &mut SplitMix64, region: u32, max: u64) -> SynthHousehold {
        let size = match rng.below(100) {
            0..=24 => 1,
            25..=54 => 2,
            55..=76 => 3,
            77..=89 => 4,
            _ => 5,
        }
        .min(max.max(1));
        let tenant = rng.chance(0.2);
        let difficulty = rng.chance(0.03);
        let surname = *rng.pick(&SURNAMES);
        let head_age = if size == 1 && rng.chance(0.4) {
            rng.range(65, 92)
        } else {
            rng.range(24, 80)
        };
        let mut ages = vec![head_age];
        for k in 1..size {
            let age = match k {
                1 => head_age.saturating_sub(5) + rng.below(10),
                _ if head_age >= 48 && rng.chance(0.3) => (head_age + rng.range(22, 30)).min(99),
                _ => head_age.saturating_sub(rng.range(22, 35)),
            };
            ages.push(age.min(99));
        }
        let mut people = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        for (k, &age) in ages.iter().enumerate() {
            let gender = if rng.chance(0.5) {
                Gender::Male
            } else {
                Gender::Female
            };
            let mut name = if k == 0 || rng.chance(0.5) {
                surname.to_string()
            } else {
                rng.pick(&SURNAMES).to_string()
            };
            name.push_str(pick_str(rng, &GIVEN));
            if rng.chance(0.7) {
                name.push_str(pick_str(rng, &GIVEN));
            }
            let birth = self.today - Duration::days((age * 365 + rng.below(365)) as i64);
            let id_number = self.id_number(region, birth, gender);
            let phone = (age >= 12).then(|| {
                format!(
                    "1{}{}{:08}",
                    rng.pick(&[3, 5, 7, 8, 9]),
                    rng.below(10),
                    rng.below(100_000_000)
                )
            });
            let relation = if tenant {
                Relation::Tenant
            } else if k == 0 {
                Relation::Owner
            } else {
                Relation::Resident
            };
            let mut tags = Vec::new();
            if age >= 60 {
                tags.push(if size == 1 && age >= 65 {
                    Tag::ElderlyAlone
                } else {
                    Tag::Elderly
                });
            }
            if difficulty {
                tags.push(Tag::Difficulty);
            }
            if rng.chance(0.05) {
                tags.push(Tag::Disability);
            }
            if tenant {
                tags.push(Tag::Floating);
            }
            if age >= 18 && rng.chance(0.08) {
                tags.push(Tag::PartyMember);
            }
            if age >= 16 && rng.chance(0.06) {
                tags.push(Tag::Volunteer);
            }
            if gender == Gender::Male && age >= 30 && rng.chance(0.03) {
                tags.push(Tag::Veteran);
            }
            people.push(SynthPerson {
                name,
                gender,
                birth_date: birth,
                id_number,
                phone,
                relation,
                tags,
            });
        }
        SynthHousehold { people }
    }

    fn id_number(&mut self, region: u32, birth: NaiveDate, gender: Gender) -> String {
        let day = birth.num_days_from_ce() as u32;
        let seq = self.id_seq.entry((region, day)).or_insert(0);
        // Sequence digits 15-17: odd for men, even for women; 500 of each a day.
        let n = *seq;
        *seq = seq.wrapping_add(1);
        let third = if gender == Gender::Male { 1 } else { 0 };
        let s = (u32::from(n) * 2 + third) % 1000;
        let first17 = format!("{region:06}{}{s:03}", birth.format("%Y%m%d"));
        let check = resident_id_check_char(first17.as_bytes()).unwrap_or('0');
        format!("{first17}{check}")
    }
}

fn pick_str(rng: &mut SplitMix64, items: &[&'static str]) -> &'static str {
    items[rng.index(items.len())]
}

fn pick_some(rng: &mut SplitMix64, items: &[&str], most: u64) -> String {
    let n = rng.below(most + 1);
    let mut out: Vec<&str> = Vec::new();
    for _ in 0..n {
        let p = *rng.pick(items);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out.join("、")
}

fn vertex_jitter(seed: u64, kind: u64, x: u64, y: u64, amp: f64) -> (f64, f64) {
    let mut r = SplitMix64::new(seed ^ 0x5EED).fork(kind ^ (x << 32) ^ (y << 8) ^ (y >> 24));
    ((r.unit() - 0.5) * 2.0 * amp, (r.unit() - 0.5) * 2.0 * amp)
}

/// The ring of grid cell (gx, gy): four jittered corners and four jittered
/// edge midpoints, shared with the neighbours so that grids tile exactly.
pub fn cell_ring(seed: u64, gx: u64, gy: u64) -> Vec<(f64, f64)> {
    let corner = |x: u64, y: u64| {
        let (jx, jy) = vertex_jitter(seed, 1, x, y, 0.2);
        (x as f64 + jx, y as f64 + jy)
    };
    let hmid = |x: u64, y: u64| {
        let (jx, jy) = vertex_jitter(seed, 2, x, y, 0.1);
        (x as f64 + 0.5 + jx, y as f64 + jy)
    };
    let vmid = |x: u64, y: u64| {
        let (jx, jy) = vertex_jitter(seed, 3, x, y, 0.1);
        (x as f64 + jx, y as f64 + 0.5 + jy)
    };
    let pts = [
        corner(gx, gy),
        hmid(gx, gy),
        corner(gx + 1, gy),
        vmid(gx + 1, gy),
        corner(gx + 1, gy + 1),
        hmid(gx, gy + 1),
        corner(gx, gy + 1),
        vmid(gx, gy),
        corner(gx, gy),
    ];
    pts.iter()
        .map(|(x, y)| (ORIGIN_LON + x * CELL_LON, ORIGIN_LAT + y * CELL_LAT))
        .collect()
}

/// A point well inside cell (gx, gy): the jitter never reaches the middle 40%.
fn interior_point(gx: u64, gy: u64, rng: &mut SplitMix64) -> (f64, f64) {
    let x = gx as f64 + 0.3 + rng.unit() * 0.4;
    let y = gy as f64 + 0.3 + rng.unit() * 0.4;
    (ORIGIN_LON + x * CELL_LON, ORIGIN_LAT + y * CELL_LAT)
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "digits of a number below 100 index a table of 10"
)]
fn chinese_number(n: u64) -> String {
    const D: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        0..=9 => D[n as usize].to_string(),
        10..=19 => format!("十{}", if n == 10 { "" } else { D[(n - 10) as usize] }),
        20..=99 => format!(
            "{}十{}",
            D[(n / 10) as usize],
            if n.is_multiple_of(10) {
                ""
            } else {
                D[(n % 10) as usize]
            }
        ),
        _ => n.to_string(),
    }
}

/// Plans the org tree and grid polygons for `people` residents.
#[expect(
    clippy::cast_possible_truncation,
    reason = "grid, community and subdistrict numbers stay within their 3-digit code parts; the district grid's side is a small square root"
)]
pub fn plan(people: u64, seed: u64) -> CityPlan {
    let n_grids = people.div_ceil(PEOPLE_PER_GRID).max(1);
    let per_district =
        GRIDS_PER_COMMUNITY * COMMUNITIES_PER_SUBDISTRICT * SUBDISTRICTS_PER_DISTRICT;
    let n_districts = n_grids.div_ceil(per_district);
    let districts_wide = (n_districts as f64).sqrt().ceil() as u64;
    let mut rng = SplitMix64::new(seed).fork(0x706c_616e);
    let mut nodes = vec![PlannedOrg {
        parent: None,
        kind: OrgKind::City,
        code: "510100".into(),
        name: "成都市".into(),
        polygon: None,
    }];
    let mut grids = Vec::new();
    let mut grid_cells = Vec::new();
    let mut made = 0;
    'all: for d in 0..n_districts {
        let district_code = format!("5101{:02}", 4 + d);
        let district_name = DISTRICT_NAMES
            .get(d as usize)
            .map(|s| s.to_string())
            .unwrap_or_else(|| format!("新区{}", d + 1));
        nodes.push(PlannedOrg {
            parent: Some(0),
            kind: OrgKind::District,
            code: district_code.clone(),
            name: district_name,
            polygon: None,
        });
        let d_node = nodes.len() - 1;
        // District block origin in grid cells: 4 subdistricts × 3 communities × 2 grids wide, 4×3×3 high.
        let (dx, dy) = ((d % districts_wide) * 24, (d / districts_wide) * 36);
        for s in 0..SUBDISTRICTS_PER_DISTRICT {
            let word = PLACE_WORDS[rng.index(PLACE_WORDS.len())];
            nodes.push(PlannedOrg {
                parent: Some(d_node),
                kind: OrgKind::Subdistrict,
                code: format!("{district_code}{:03}", s + 1),
                name: format!("{word}街道"),
                polygon: None,
            });
            let s_node = nodes.len() - 1;
            let (sx, sy) = (dx + (s % 4) * 6, dy + (s / 4) * 9);
            for c in 0..COMMUNITIES_PER_SUBDISTRICT {
                let word = PLACE_WORDS[rng.index(PLACE_WORDS.len())];
                let c_code = format!("{district_code}{:03}{:03}", s + 1, c + 1);
                nodes.push(PlannedOrg {
                    parent: Some(s_node),
                    kind: OrgKind::Community,
                    code: c_code.clone(),
                    name: format!("{word}社区"),
                    polygon: None,
                });
                let c_node = nodes.len() - 1;
                let (cx, cy) = (sx + (c % 3) * 2, sy + (c / 3) * 3);
                for zone in 0..2 {
                    nodes.push(PlannedOrg {
                        parent: Some(c_node),
                        kind: OrgKind::Zone,
                        code: format!("{c_code}-{}", zone + 1),
                        name: format!("{}片区", chinese_number(zone + 1)),
                        polygon: None,
                    });
                    let z_node = nodes.len() - 1;
                    for row in 0..3 {
                        let seq = zone * 3 + row + 1;
                        let (gx, gy) = (cx + zone, cy + row);
                        let code = GridCode::from_parts(
                            &district_code,
                            (s + 1) as u32,
                            (c + 1) as u32,
                            seq as u32,
                        );
                        nodes.push(PlannedOrg {
                            parent: Some(z_node),
                            kind: OrgKind::Grid,
                            code: code.as_str().to_string(),
                            name: format!("第{}网格", chinese_number(seq)),
                            polygon: Some(cell_ring(seed, gx, gy)),
                        });
                        grids.push(nodes.len() - 1);
                        grid_cells.push((gx, gy));
                        made += 1;
                        if made == n_grids {
                            break 'all;
                        }
                    }
                }
            }
        }
    }
    let base = people / n_grids;
    let extra = people % n_grids;
    let grid_people = (0..n_grids).map(|i| base + u64::from(i < extra)).collect();
    CityPlan {
        nodes,
        grids,
        grid_people,
        grid_cells,
    }
}

/// Whole years between `birth` and `on`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::resident_id;
    use std::collections::HashSet;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    #[test]
    fn exact_people_valid_ids_and_deterministic() {
        let mut a = Synth::new(5_000, 42, today());
        let mut b = Synth::new(5_000, 42, today());
        let grids = a.plan().grids.len();
        assert_eq!(grids, 7);
        let mut total = 0;
        let mut ids = HashSet::new();
        for i in 0..grids {
            let ga = a.grid(i);
            let names: HashSet<_> = ga.compounds.iter().map(|c| c.name.clone()).collect();
            assert_eq!(
                names.len(),
                ga.compounds.len(),
                "compound names unique in a grid"
            );
            let gb = b.grid(i);
            let pa: Vec<_> = ga.people().map(|p| p.id_number.clone()).collect();
            let pb: Vec<_> = gb.people().map(|p| p.id_number.clone()).collect();
            assert_eq!(pa, pb);
            for p in ga.people() {
                let id = resident_id(&p.id_number, today()).unwrap();
                assert_eq!(id.gender, p.gender);
                assert_eq!(id.birth_date, p.birth_date);
                assert!(ids.insert(p.id_number.clone()), "duplicate {}", p.id_number);
                if let Some(ph) = &p.phone {
                    crate::validate::mobile_phone(ph).unwrap();
                }
                total += 1;
            }
        }
        assert_eq!(total, 5_000);
    }

    #[test]
    fn grid_codes_are_valid_and_unique() {
        let p = plan(2_000_000, 1);
        let mut codes = HashSet::new();
        for &g in &p.grids {
            let code = GridCode::parse(&p.nodes[g].code).unwrap();
            assert!(codes.insert(code));
            assert_eq!(p.nodes[g].polygon.as_ref().unwrap().len(), 9);
        }
        assert_eq!(p.grid_people.iter().sum::<u64>(), 2_000_000);
    }

    #[test]
    fn neighbouring_cells_share_their_edge() {
        let a = cell_ring(9, 3, 4);
        let b = cell_ring(9, 4, 4);
        // a's right edge (corner, vmid, corner) is b's left edge reversed.
        assert_eq!(a[2], b[0]);
        assert_eq!(a[3], b[7]);
        assert_eq!(a[4], b[6]);
    }

    #[test]
    fn ages() {
        let b = NaiveDate::from_ymd_opt(1950, 11, 23).unwrap();
        assert_eq!(age_on(b, today()), 75);
    }
}
