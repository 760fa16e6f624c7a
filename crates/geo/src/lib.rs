//! Grids (网格) as polygons, and placing a point in its grid.
//!
//! [`GridIndex`] keeps each grid's bounding box in an R-tree (rstar); a
//! point is tested only against the few polygons whose box holds it.

pub use geo::MultiPolygon as Shape;
use geo::{BoundingRect, Coord, MultiPolygon, Polygon, Validation};
use rstar::{AABB, RTree, RTreeObject};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GeoError {
    #[error("GeoJSON: {0}")]
    Parse(String),
    #[error("feature {feature}: {message}")]
    Feature { feature: usize, message: String },
}

/// A grid polygon read from GeoJSON, with the properties that place it in
/// the org tree.
#[derive(Debug, Clone)]
pub struct GridFeature {
    pub code: String,
    pub name: Option<String>,
    pub properties: Map<String, Value>,
    pub shape: MultiPolygon<f64>,
    /// What was accepted but changed on the way in (a height dropped).
    pub warnings: Vec<String>,
}

impl GridFeature {
    /// A text property, trimmed, or None when absent or empty.
    pub fn prop(&self, key: &str) -> Option<String> {
        match self.properties.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

fn shape_of(geometry: &geojson::Geometry) -> Result<MultiPolygon<f64>, String> {
    let g: geo::Geometry<f64> = geometry
        .clone()
        .try_into()
        .map_err(|e| format!("geometry: {e}"))?;
    match g {
        geo::Geometry::Polygon(p) => Ok(MultiPolygon(vec![p])),
        geo::Geometry::MultiPolygon(m) => Ok(m),
        _ => Err("geometry must be a Polygon or MultiPolygon".into()),
    }
}

fn check_ring_bounds(shape: &MultiPolygon<f64>) -> Result<(), String> {
    for p in &shape.0 {
        if p.exterior().0.len() < 4 {
            return Err("polygon ring needs at least 4 positions".into());
        }
        // Every ring, the holes too.
        for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
            for c in ring.coords() {
                if !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y) {
                    let hint = if c.x.abs() <= 90.0 && c.y.abs() <= 180.0 {
                        " (latitude written first? GeoJSON writes longitude, then latitude)"
                    } else {
                        " (metres of a projection? grids are WGS-84 degrees)"
                    };
                    return Err(format!(
                        "position ({}, {}) is not WGS-84 lon/lat{hint}",
                        c.x, c.y
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The rings of a GeoJSON Polygon or MultiPolygon as written (before any
/// conversion closes them or drops a height).
fn raw_rings(geometry: &geojson::Geometry) -> Vec<&Vec<geojson::Position>> {
    match &geometry.value {
        geojson::GeometryValue::Polygon { coordinates } => coordinates.iter().collect(),
        geojson::GeometryValue::MultiPolygon { coordinates } => {
            coordinates.iter().flatten().collect()
        }
        _ => Vec::new(),
    }
}

/// Problems a grid polygon must not have, and what is only worth saying:
/// a ring written open (GeoJSON requires the first position again at the
/// end), a self-intersection, a hole outside its shell or crossing it
/// (geo's validation), and heights (dropped, with a warning).
fn check_shape(
    geometry: &geojson::Geometry,
    shape: &MultiPolygon<f64>,
) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let rings = raw_rings(geometry);
    if rings
        .iter()
        .any(|r| r.len() >= 2 && r.first().map(|p| p.as_slice()) != r.last().map(|p| p.as_slice()))
    {
        errors.push("a ring is not closed: its last position must repeat its first".to_string());
    }
    if rings.iter().flat_map(|r| r.iter()).any(|pos| pos.len() > 2) {
        warnings.push(
            "positions have a third value (height); it is dropped, grids are 2-D".to_string(),
        );
    }
    for problem in shape.validation_errors() {
        errors.push(format!("invalid polygon: {problem}"));
    }
    (errors, warnings)
}

/// Parses a FeatureCollection of grid polygons. Each feature needs a
/// `code` property; all problems are reported, one per feature.
pub fn parse_grid_features(text: &str) -> Result<Vec<GridFeature>, Vec<GeoError>> {
    let gj: geojson::GeoJson = text
        .parse()
        .map_err(|e: geojson::Error| vec![GeoError::Parse(e.to_string())])?;
    let fc = match gj {
        geojson::GeoJson::FeatureCollection(fc) => fc,
        _ => return Err(vec![GeoError::Parse("expected a FeatureCollection".into())]),
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, f) in fc.features.into_iter().enumerate() {
        let feature = i + 1;
        let props = f.properties.clone().unwrap_or_default();
        let code = match props.get("code") {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                errors.push(GeoError::Feature {
                    feature,
                    message: "property 'code' is missing".into(),
                });
                continue;
            }
        };
        let shape = match f.geometry.as_ref().map(shape_of) {
            Some(Ok(s)) => s,
            Some(Err(m)) => {
                errors.push(GeoError::Feature {
                    feature,
                    message: m,
                });
                continue;
            }
            None => {
                errors.push(GeoError::Feature {
                    feature,
                    message: "geometry is missing".into(),
                });
                continue;
            }
        };
        if let Err(message) = check_ring_bounds(&shape) {
            errors.push(GeoError::Feature { feature, message });
            continue;
        }
        let (problems, warnings) = match f.geometry.as_ref() {
            Some(g) => check_shape(g, &shape),
            None => (Vec::new(), Vec::new()),
        };
        if !problems.is_empty() {
            for message in problems {
                errors.push(GeoError::Feature { feature, message });
            }
            continue;
        }
        let name = match props.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        };
        out.push(GridFeature {
            code,
            name,
            properties: props,
            shape,
            warnings,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A grid problem of [`parse_grid_features`] or [`outside_extent`] in
/// Chinese, for Chinese pages and reports (the English text is the key).
pub fn message_zh(message: &str) -> String {
    let swapped = message.contains("latitude written first") || message.contains("look swapped");
    let position = message
        .strip_prefix("position ")
        .and_then(|r| r.split(" is not").next())
        .unwrap_or("");
    if message.starts_with("position (") {
        return format!(
            "坐标 {position} 不是 WGS-84 经纬度{}",
            if swapped {
                "（纬度写在了前面？GeoJSON 先写经度、后写纬度）"
            } else {
                "（是投影坐标的米数吗？网格须用 WGS-84 经纬度）"
            }
        );
    }
    let known = [
        (
            "property 'code' is missing",
            "缺少 code 属性（15 位网格编码）",
        ),
        ("geometry is missing", "缺少几何图形"),
        (
            "geometry must be a Polygon or MultiPolygon",
            "几何类型须为 Polygon 或 MultiPolygon",
        ),
        (
            "polygon ring needs at least 4 positions",
            "多边形的环至少需要 4 个坐标",
        ),
        (
            "a ring is not closed",
            "环未闭合：最后一个坐标须与第一个相同",
        ),
        ("self-intersection", "边界自相交"),
        ("interior", "内环（洞）不在外环之内，或与外环相交"),
        (
            "positions have a third value",
            "坐标含第三个值（高程），已舍去，网格只用平面坐标",
        ),
        (
            "lies outside the city's extent",
            "不在城市范围内（东经 73.4–135.1°、北纬 3.8–53.6°）",
        ),
    ];
    for (en, zh) in known {
        if message.contains(en) {
            return if swapped {
                format!("{zh}：经度与纬度似乎写反了（GeoJSON 先写经度）")
            } else {
                zh.to_string()
            };
        }
    }
    format!("几何图形有误：{message}")
}

/// The plausible extent of a city's grids, in degrees (WGS-84).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extent {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

/// China's extent: grids outside it are swapped or projected coordinates.
pub const CHINA: Extent = Extent {
    min_lon: 73.4,
    min_lat: 3.8,
    max_lon: 135.1,
    max_lat: 53.6,
};

/// Why a grid lies outside `extent`, or `None` when it lies inside. The
/// usual mistakes are named: longitude and latitude swapped (the western
/// hemisphere's swap passes the WGS-84 ranges), or metres of a projection.
pub fn outside_extent(shape: &MultiPolygon<f64>, extent: Extent) -> Option<String> {
    let r = shape.bounding_rect()?;
    let inside = |x: f64, y: f64| {
        (extent.min_lon..=extent.max_lon).contains(&x)
            && (extent.min_lat..=extent.max_lat).contains(&y)
    };
    if inside(r.min().x, r.min().y) && inside(r.max().x, r.max().y) {
        return None;
    }
    let swapped = inside(r.min().y, r.min().x) && inside(r.max().y, r.max().x);
    Some(format!(
        "lies outside the city's extent ({}–{}°E, {}–{}°N), at {:.4}, {:.4}{}",
        extent.min_lon,
        extent.max_lon,
        extent.min_lat,
        extent.max_lat,
        r.min().x,
        r.min().y,
        if swapped {
            ": longitude and latitude look swapped (GeoJSON writes longitude first)"
        } else {
            ": are these WGS-84 degrees (not a projection's metres, not GCJ-02 offsets of another city)?"
        }
    ))
}

/// Two grids that overlap, by their places in the lists compared (1-based;
/// see [`overlaps`] and [`overlaps_with`]), and the area they share in
/// square metres.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlap {
    pub a: usize,
    pub b: usize,
    pub area_m2: f64,
}

/// Every pair of shapes that overlap by more than `tolerance_m2` (slivers
/// of digitising below it are ignored): only pairs whose bounding boxes
/// meet are intersected, so the cost follows the neighbours, not n².
pub fn overlaps(shapes: &[&MultiPolygon<f64>], tolerance_m2: f64) -> Vec<Overlap> {
    overlapping(shapes, shapes, tolerance_m2, true)
}

/// Every new shape that overlaps a stored one by more than `tolerance_m2`:
/// `a` is the new shape's place in `new`, `b` the stored one's in `stored`
/// (both 1-based).
pub fn overlaps_with(
    new: &[&MultiPolygon<f64>],
    stored: &[&MultiPolygon<f64>],
    tolerance_m2: f64,
) -> Vec<Overlap> {
    overlapping(new, stored, tolerance_m2, false)
}

/// The shapes of `queries` that overlap those of `targets`; `same` when
/// both are one list (each pair once, a shape not with itself).
fn overlapping(
    queries: &[&MultiPolygon<f64>],
    targets: &[&MultiPolygon<f64>],
    tolerance_m2: f64,
    same: bool,
) -> Vec<Overlap> {
    use geo::{BooleanOps, ChamberlainDuquetteArea};
    let envelopes = |shapes: &[&MultiPolygon<f64>]| -> Vec<Entry> {
        shapes
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| {
                let r = s.bounding_rect()?;
                Some(Entry {
                    slot,
                    envelope: AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                })
            })
            .collect()
    };
    let tree: RTree<Entry> = RTree::bulk_load(envelopes(targets));
    let mut out = Vec::new();
    for e in envelopes(queries) {
        for other in tree.locate_in_envelope_intersecting(e.envelope) {
            if same && other.slot <= e.slot {
                continue;
            }
            let shared = queries[e.slot].intersection(targets[other.slot]);
            let area = shared.chamberlain_duquette_unsigned_area();
            if area > tolerance_m2 {
                out.push(Overlap {
                    a: e.slot + 1,
                    b: other.slot + 1,
                    area_m2: area,
                });
            }
        }
    }
    out.sort_by_key(|o| (o.a, o.b));
    out
}

/// A MultiPolygon as a GeoJSON geometry value.
pub fn to_geojson(shape: &MultiPolygon<f64>) -> Value {
    let g = geojson::Geometry::from(shape);
    serde_json::to_value(g).unwrap_or(Value::Null)
}

/// A closed ring of lon/lat pairs as a MultiPolygon.
pub fn ring_to_shape(ring: &[(f64, f64)]) -> MultiPolygon<f64> {
    let coords: Vec<Coord<f64>> = ring.iter().map(|&(x, y)| Coord { x, y }).collect();
    MultiPolygon(vec![Polygon::new(coords.into(), vec![])])
}

/// Parses a stored GeoJSON geometry.
pub fn shape_from_json(text: &str) -> Result<MultiPolygon<f64>, GeoError> {
    let g: geojson::Geometry = text
        .parse::<geojson::GeoJson>()
        .map_err(|e| GeoError::Parse(e.to_string()))
        .and_then(|gj| match gj {
            geojson::GeoJson::Geometry(g) => Ok(g),
            _ => Err(GeoError::Parse("expected a geometry".into())),
        })?;
    shape_of(&g).map_err(GeoError::Parse)
}

/// One polygon's bounding box in the R-tree; `slot` indexes the polygons.
#[derive(Clone)]
struct Entry {
    slot: usize,
    envelope: AABB<[f64; 2]>,
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// A polygon flattened for the crossing-number test: all rings' edges as
/// (x1, y1, x2, y2), exterior and holes alike (a hole flips parity back).
struct FlatPolygon {
    edges: Vec<[f64; 4]>,
}

impl FlatPolygon {
    fn new(p: &Polygon<f64>) -> Self {
        let mut edges = Vec::new();
        for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
            for w in ring.0.windows(2) {
                edges.push([w[0].x, w[0].y, w[1].x, w[1].y]);
            }
        }
        FlatPolygon { edges }
    }

    /// Even-odd crossing test with half-open edges: a point on an edge
    /// shared by two grids belongs to exactly one of them, so grids that
    /// tile an area partition it with no gaps and no double counting.
    fn contains(&self, x: f64, y: f64) -> bool {
        let mut inside = false;
        for &[x1, y1, x2, y2] in &self.edges {
            if (y1 > y) != (y2 > y) {
                let xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1);
                if x < xi {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

/// A lattice of buckets over the index's extent, each holding the grids
/// whose bounding box meets it, found once through the R-tree. A point
/// query reads one bucket instead of walking the tree: rstar's traversal
/// cost several times the polygon test itself (see BENCHMARKS.md).
struct Buckets {
    lo: [f64; 2],
    inv_cell: [f64; 2],
    nx: usize,
    ny: usize,
    /// Bucket b holds items[offsets[b]..offsets[b + 1]].
    offsets: Vec<u32>,
    items: Vec<u32>,
}

impl Buckets {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "bucket counts are clamped to 4 million, slots to the grid count; float cells are checked to lie in the extent"
    )]
    fn build(tree: &RTree<Entry>, count: usize) -> Self {
        let empty = Buckets {
            lo: [0.0; 2],
            inv_cell: [0.0; 2],
            nx: 0,
            ny: 0,
            offsets: vec![0],
            items: Vec::new(),
        };
        if count == 0 {
            return empty;
        }
        let env = tree.root().envelope();
        let (lo, hi) = (env.lower(), env.upper());
        let (w, h) = (hi[0] - lo[0], hi[1] - lo[1]);
        if !(w > 0.0 && h > 0.0) {
            return empty;
        }
        // About four buckets per grid, shaped like the extent.
        let target = (count * 4).clamp(1, 4_000_000) as f64;
        let nx = ((target * w / h).sqrt().ceil() as usize).max(1);
        let ny = ((target / nx as f64).ceil() as usize).max(1);
        let (cw, ch) = (w / nx as f64, h / ny as f64);
        let mut offsets = Vec::with_capacity(nx * ny + 1);
        let mut items = Vec::new();
        offsets.push(0);
        for j in 0..ny {
            for i in 0..nx {
                let cell = AABB::from_corners(
                    [lo[0] + i as f64 * cw, lo[1] + j as f64 * ch],
                    [lo[0] + (i + 1) as f64 * cw, lo[1] + (j + 1) as f64 * ch],
                );
                let start = items.len();
                items.extend(
                    tree.locate_in_envelope_intersecting(cell)
                        .map(|e| e.slot as u32),
                );
                items[start..].sort_unstable();
                offsets.push(items.len() as u32);
            }
        }
        Buckets {
            lo,
            inv_cell: [1.0 / cw, 1.0 / ch],
            nx,
            ny,
            offsets,
            items,
        }
    }

    #[expect(
        clippy::cast_possible_truncation,
        reason = "bucket counts are clamped to 4 million, slots to the grid count; float cells are checked to lie in the extent"
    )]
    fn candidates(&self, x: f64, y: f64) -> &[u32] {
        if self.nx == 0 {
            return &[];
        }
        let fx = (x - self.lo[0]) * self.inv_cell[0];
        let fy = (y - self.lo[1]) * self.inv_cell[1];
        // Written so that NaN fails too.
        if !(fx >= 0.0 && fy >= 0.0 && fx <= self.nx as f64 && fy <= self.ny as f64) {
            return &[];
        }
        // A point on the extent's far edge belongs to the last bucket.
        let i = (fx as usize).min(self.nx - 1);
        let j = (fy as usize).min(self.ny - 1);
        let b = j * self.nx + i;
        &self.items[self.offsets[b] as usize..self.offsets[b + 1] as usize]
    }
}

/// Point-in-grid index over grid polygons keyed by id: an R-tree (rstar)
/// of the grids' bounding boxes, from which the buckets are precomputed.
/// Boundaries are half-open (see [`FlatPolygon::contains`]): a point
/// exactly on the outer north or east edge of the whole area is outside.
pub struct GridIndex {
    buckets: Buckets,
    /// (grid id, bounding box [min x, min y, max x, max y], polygon)
    grids: Vec<(i64, [f64; 4], FlatPolygon)>,
}

impl GridIndex {
    /// Builds the index; a MultiPolygon grid contributes one entry per part.
    pub fn new(grids: impl IntoIterator<Item = (i64, MultiPolygon<f64>)>) -> Self {
        let mut polys = Vec::new();
        let mut entries = Vec::new();
        for (id, shape) in grids {
            for p in shape.0 {
                if let Some(r) = p.bounding_rect() {
                    entries.push(Entry {
                        slot: polys.len(),
                        envelope: AABB::from_corners(
                            [r.min().x, r.min().y],
                            [r.max().x, r.max().y],
                        ),
                    });
                    let bbox = [r.min().x, r.min().y, r.max().x, r.max().y];
                    polys.push((id, bbox, FlatPolygon::new(&p)));
                }
            }
        }
        let tree: RTree<Entry> = RTree::bulk_load(entries);
        let buckets = Buckets::build(&tree, polys.len());
        GridIndex {
            buckets,
            grids: polys,
        }
    }

    pub fn len(&self) -> usize {
        self.grids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grids.is_empty()
    }

    /// The grid holding (lon, lat). Where grids overlap (bad data), the
    /// smallest id wins, so the answer is stable.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<i64> {
        let mut best: Option<i64> = None;
        for &slot in self.buckets.candidates(lon, lat) {
            let (id, bbox, poly) = &self.grids[slot as usize];
            if lon >= bbox[0]
                && lon <= bbox[2]
                && lat >= bbox[1]
                && lat <= bbox[3]
                && best.is_none_or(|b| *id < b)
                && poly.contains(lon, lat)
            {
                best = Some(*id);
            }
        }
        best
    }

    /// Locates many points, split over the available cores.
    pub fn locate_many(&self, points: &[(f64, f64)]) -> Vec<Option<i64>> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        self.locate_many_with(points, threads)
    }

    /// Locates many points on `threads` threads, answers in input order.
    pub fn locate_many_with(&self, points: &[(f64, f64)], threads: usize) -> Vec<Option<i64>> {
        let chunk = points.len().div_ceil(threads.max(1)).max(1);
        let mut out = vec![None; points.len()];
        std::thread::scope(|s| {
            for (pts, res) in points.chunks(chunk).zip(out.chunks_mut(chunk)) {
                s.spawn(move || {
                    for (p, r) in pts.iter().zip(res.iter_mut()) {
                        *r = self.locate(p.0, p.1);
                    }
                });
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: f64, y: f64, s: f64) -> MultiPolygon<f64> {
        ring_to_shape(&[(x, y), (x + s, y), (x + s, y + s), (x, y + s), (x, y)])
    }

    fn feature(geometry: &str) -> String {
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"code":"320104001001001"}},"geometry":{geometry}}}]}}"#
        )
    }

    fn problems(geometry: &str) -> Vec<String> {
        match parse_grid_features(&feature(geometry)) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|x| x.to_string()).collect(),
        }
    }

    #[test]
    fn invalid_grid_polygons_are_refused_by_name() {
        // A bow tie crosses itself.
        let p = problems(r#"{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}"#);
        assert!(p.iter().any(|m| m.contains("self-intersection")), "{p:?}");
        // A ring written open.
        let p = problems(r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}"#);
        assert!(p.iter().any(|m| m.contains("not closed")), "{p:?}");
        // A hole outside its shell.
        let p = problems(
            r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]],[[2,2],[3,2],[3,3],[2,3],[2,2]]]}"#,
        );
        assert!(p.iter().any(|m| m.contains("interior")), "{p:?}");
        // A hole's position out of range.
        let p = problems(
            r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]],[[0.2,0.2],[0.4,0.2],[0.4,95],[0.2,0.2]]]}"#,
        );
        assert!(p.iter().any(|m| m.contains("WGS-84")), "{p:?}");
        // Heights are dropped with a warning, not refused.
        let ok = parse_grid_features(&feature(
            r#"{"type":"Polygon","coordinates":[[[0,0,5],[1,0,5],[1,1,5],[0,1,5],[0,0,5]]]}"#,
        ))
        .unwrap();
        assert_eq!(ok[0].warnings.len(), 1);
        assert!(
            problems(r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}"#)
                .is_empty()
        );
    }

    #[test]
    fn locates_points_and_boundaries() {
        let idx = GridIndex::new(vec![(7, square(0.0, 0.0, 1.0)), (3, square(1.0, 0.0, 1.0))]);
        assert_eq!(idx.locate(0.5, 0.5), Some(7));
        assert_eq!(idx.locate(1.5, 0.5), Some(3));
        assert_eq!(
            idx.locate(1.0, 0.5),
            Some(3),
            "shared edge goes to the smaller id"
        );
        assert_eq!(idx.locate(2.5, 0.5), None);
        assert_eq!(
            idx.locate(1.999, 0.999),
            Some(3),
            "next to the extent's far corner"
        );
        assert_eq!(idx.locate(f64::NAN, 0.5), None);
        assert_eq!(idx.locate(-0.1, 0.5), None);
        assert!(GridIndex::new(vec![]).locate(0.0, 0.0).is_none());
        // A concave L-shaped grid: the notch is outside although inside the box.
        let l = ring_to_shape(&[
            (10.0, 0.0),
            (12.0, 0.0),
            (12.0, 1.0),
            (11.0, 1.0),
            (11.0, 2.0),
            (10.0, 2.0),
            (10.0, 0.0),
        ]);
        let idx = GridIndex::new(vec![(1, l)]);
        assert_eq!(idx.locate(10.5, 1.5), Some(1));
        assert_eq!(idx.locate(11.5, 1.5), None);
        let many = idx.locate_many(&[(10.5, 1.5), (11.5, 1.5), (10.1, 0.1)]);
        assert_eq!(many, vec![Some(1), None, Some(1)]);
        assert_eq!(
            idx.locate_many_with(&[(11.5, 1.5), (10.1, 0.1)], 1),
            vec![None, Some(1)]
        );
        assert!(idx.locate_many(&[]).is_empty());
    }

    #[test]
    fn holes_and_multipolygons() {
        let mut donut = square(0.0, 0.0, 4.0);
        let hole = square(1.0, 1.0, 2.0).0.remove(0).exterior().clone();
        donut.0[0].interiors_push(hole);
        let mut two = square(10.0, 0.0, 1.0);
        two.0.push(square(20.0, 0.0, 1.0).0.remove(0));
        let idx = GridIndex::new(vec![(1, donut), (2, two)]);
        assert_eq!(idx.locate(0.5, 0.5), Some(1));
        assert_eq!(idx.locate(2.0, 2.0), None, "inside the hole");
        assert_eq!(idx.locate(10.5, 0.5), Some(2));
        assert_eq!(idx.locate(20.5, 0.5), Some(2));
        assert_eq!(idx.locate(15.0, 0.5), None);
    }

    #[test]
    fn a_tiling_partitions_the_plane() {
        // Four unit squares meeting at (1, 1): every probe point, on edges
        // and on the shared corner too, lies in exactly one of them.
        let tiles: Vec<(i64, MultiPolygon<f64>)> = (0..4)
            .map(|i| (i, square((i % 2) as f64, (i / 2) as f64, 1.0)))
            .collect();
        let flat: Vec<FlatPolygon> = tiles
            .iter()
            .map(|(_, s)| FlatPolygon::new(&s.0[0]))
            .collect();
        for xi in 1..8 {
            for yi in 1..8 {
                let (x, y) = (xi as f64 * 0.25, yi as f64 * 0.25);
                let n = flat.iter().filter(|p| p.contains(x, y)).count();
                assert_eq!(n, 1, "({x}, {y}) is in {n} tiles");
            }
        }
    }

    #[test]
    fn parses_features_and_reports_each_bad_one() {
        let good = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"code":"510104003012005","name":"第五网格"},
           "geometry":{"type":"Polygon","coordinates":[[[104,30],[104.01,30],[104.01,30.01],[104,30.01],[104,30]]]}}]}"#;
        let f = parse_grid_features(good).unwrap();
        assert_eq!(f[0].code, "510104003012005");
        assert_eq!(f[0].name.as_deref(), Some("第五网格"));
        let bad = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"name":"x"},"geometry":{"type":"Point","coordinates":[104,30]}},
          {"type":"Feature","properties":{"code":"1"},"geometry":{"type":"Point","coordinates":[104,30]}},
          {"type":"Feature","properties":{"code":"2"},"geometry":{"type":"Polygon","coordinates":[[[504,30],[104.01,30],[104.01,30.01],[504,30]]]}}]}"#;
        let e = parse_grid_features(bad).unwrap_err();
        assert_eq!(e.len(), 3);
        assert!(
            e[0].to_string().starts_with("feature 1: property 'code'"),
            "{}",
            e[0]
        );
        assert!(
            e[1].to_string().contains("Polygon or MultiPolygon"),
            "{}",
            e[1]
        );
        assert!(e[2].to_string().contains("WGS-84"), "{}", e[2]);
        assert!(parse_grid_features("{").is_err());
    }

    #[test]
    fn overlaps_are_found_with_their_area_and_slivers_ignored() {
        // Three 0.01° squares near Chengdu: b overlaps a by a quarter of
        // its width, c only touches b along an edge.
        let a = square(104.0, 30.0, 0.01);
        let b = square(104.0075, 30.0, 0.01);
        let c = square(104.0175, 30.0, 0.01);
        let found = overlaps(&[&a, &b, &c], 1.0);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].a, found[0].b), (1, 2));
        // 0.0025° × 0.01° at 30°N: about 241 m × 1,111 m.
        assert!(
            (found[0].area_m2 - 267_000.0).abs() < 10_000.0,
            "{}",
            found[0].area_m2
        );
        assert!(overlaps(&[&a, &b], 1e9).is_empty(), "below the tolerance");
        // Against stored grids: the new one (b) overlaps the first stored
        // (a) and only touches the second (c).
        let found = overlaps_with(&[&b], &[&a, &c], 1.0);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].a, found[0].b), (1, 1));
        assert!(overlaps_with(&[&c], &[&a], 1.0).is_empty());
    }

    #[test]
    fn grids_outside_the_city_are_named_swapped_or_projected() {
        assert_eq!(outside_extent(&square(104.0, 30.0, 0.01), CHINA), None);
        let swapped = outside_extent(&square(30.0, 104.0 - 90.0, 0.01), CHINA);
        assert!(swapped.is_some());
        // New York written latitude first: inside WGS-84, far from China.
        let ny = outside_extent(&square(40.7, -74.0, 0.01), CHINA).unwrap();
        assert!(ny.contains("outside"), "{ny}");
        let swapped = outside_extent(&square(30.6, 104.0, 0.01), CHINA).unwrap_or_default();
        assert!(swapped.contains("swapped"), "{swapped}");
    }

    #[test]
    fn problems_have_a_chinese_text() {
        let p = problems(
            r#"{"type":"Polygon","coordinates":[[[30.6,104],[30.61,104],[30.61,104.01],[30.6,104.01],[30.6,104]]]}"#,
        );
        assert!(p[0].contains("latitude written first"), "{p:?}");
        let zh = message_zh(&p[0].replace("feature 1: ", ""));
        assert!(zh.contains("纬度写在了前面"), "{zh}");
        let p = problems(r#"{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}"#);
        assert_eq!(message_zh(&p[0].replace("feature 1: ", "")), "边界自相交");
        assert!(message_zh("something new").starts_with("几何图形有误"));
    }

    #[test]
    fn geometry_round_trip() {
        let s = square(104.0, 30.0, 0.01);
        let text = to_geojson(&s).to_string();
        assert_eq!(shape_from_json(&text).unwrap(), s);
    }
}
