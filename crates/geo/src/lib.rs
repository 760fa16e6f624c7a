//! Grids (网格) as polygons, and placing a point in its grid.
//!
//! [`GridIndex`] keeps each grid's bounding box in an R-tree (rstar); a
//! point is tested only against the few polygons whose box holds it.

use geo::{BoundingRect, Coord, Intersects, MultiPolygon, Point, Polygon};
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
        for c in p.exterior().coords() {
            if !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y) {
                return Err(format!("position ({}, {}) is not WGS-84 lon/lat", c.x, c.y));
            }
        }
    }
    Ok(())
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
        let name = match props.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        };
        out.push(GridFeature {
            code,
            name,
            properties: props,
            shape,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
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

/// Point-in-grid index over grid polygons keyed by id.
pub struct GridIndex {
    tree: RTree<Entry>,
    grids: Vec<(i64, Polygon<f64>)>,
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
                    polys.push((id, p));
                }
            }
        }
        GridIndex {
            tree: RTree::bulk_load(entries),
            grids: polys,
        }
    }

    pub fn len(&self) -> usize {
        self.grids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grids.is_empty()
    }

    /// The grid holding (lon, lat). A point on a shared boundary belongs
    /// to the grid with the smallest id, so the answer is stable.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<i64> {
        let pt = Point::new(lon, lat);
        let mut best: Option<i64> = None;
        for e in self
            .tree
            .locate_in_envelope_intersecting(AABB::from_point([lon, lat]))
        {
            let (id, poly) = &self.grids[e.slot];
            if best.is_none_or(|b| *id < b) && poly.intersects(&pt) {
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
        let chunk = points.len().div_ceil(threads).max(1);
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
    fn geometry_round_trip() {
        let s = square(104.0, 30.0, 0.01);
        let text = to_geojson(&s).to_string();
        assert_eq!(shape_from_json(&text).unwrap(), s);
    }
}
