//! The org tree (city › … › grid), grid polygons, staff and posts.

use std::sync::Arc;

use linli_core::ids::{OrgId, StaffId};
use linli_core::org::{GridCode, OrgKind, OrgPath};
use linli_core::validate;
use linli_geo::GridIndex;
use serde::Serialize;

use crate::caches::{Cached, changed_in_tx};
use crate::db::BeginWrite;
use crate::db::now_ms;
use crate::vault::Field;
use crate::{Result, Scope, Store, StoreError, with_db};

/// A point's grid in a batch look-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct GridHit {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OrgUnit {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub kind: String,
    pub code: String,
    pub name: String,
    pub path: String,
}

impl OrgUnit {
    pub fn kind(&self) -> Option<OrgKind> {
        OrgKind::parse(&self.kind).ok()
    }
    pub fn org_path(&self) -> Result<OrgPath> {
        OrgPath::parse(&self.path).map_err(|e| StoreError::Config(e.en))
    }
    /// The scope of someone responsible for this node.
    pub fn scope(&self) -> Result<Scope> {
        Ok(Scope::Subtree(self.org_path()?))
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct GridShape {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub geometry: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct PostView {
    pub post_id: i64,
    pub grid_id: i64,
    pub grid_name: String,
    pub staff_id: i64,
    pub staff_name: String,
    pub title: String,
}

/// Registry counts by scope bounds, with when they were counted.
pub(crate) type CountsCache = std::collections::HashMap<(String, String), (i64, ScopeStats)>;

/// How long a server keeps registry counts it has not seen change.
pub const COUNTS_TTL_MS: i64 = 10 * 60 * 1000;

/// Counts of what lies in a scope.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ScopeStats {
    pub grids: i64,
    pub compounds: i64,
    pub dwellings: i64,
    pub households: i64,
    pub people: i64,
}

const ORG_COLS: &str = "id, parent_id, kind, code, name, path";

/// Inserts an org node under `parent` inside an open transaction and sets
/// its path from the new id. Shared by single creates and imports.
macro_rules! insert_org_in_tx {
    ($tx:expr, $parent:expr, $kind:expr, $code:expr, $name:expr, $geometry:expr) => {{
        let parent: Option<&OrgUnit> = $parent;
        let parent_path = match parent {
            Some(p) => p.path.clone(),
            None => "/".to_string(),
        };
        // The path is unique, so the row is first written with a provisional
        // one and then given its real path once the id is known.
        let provisional = format!("{}new-{}/", parent_path, $code);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO org_unit (parent_id, kind, code, name, path, geometry, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(parent.map(|p| p.id))
        .bind($kind.code())
        .bind($code)
        .bind($name)
        .bind(&provisional)
        .bind($geometry)
        .bind($crate::db::now_ms())
        .fetch_one(&mut *$tx)
        .await?;
        let path = format!("{parent_path}{id}/");
        sqlx::query("UPDATE org_unit SET path = $1 WHERE id = $2")
            .bind(&path)
            .bind(id)
            .execute(&mut *$tx)
            .await?;
        OrgUnit {
            id,
            parent_id: parent.map(|p| p.id),
            kind: $kind.code().to_string(),
            code: $code.to_string(),
            name: $name.to_string(),
            path,
        }
    }};
}
pub(crate) use insert_org_in_tx;

impl Store {
    /// Creates an org node. The parent must be in the caller's scope and of
    /// a kind allowed to hold `kind`; a root (city) needs `Scope::Everything`.
    pub async fn create_org(
        &self,
        scope: &Scope,
        parent_id: Option<i64>,
        kind: OrgKind,
        code: &str,
        name: &str,
        geometry: Option<&str>,
    ) -> Result<OrgUnit> {
        let code = code.trim();
        let name = name.trim();
        if code.is_empty() {
            return Err(StoreError::invalid("code", "must not be empty", "不能为空"));
        }
        if name.is_empty() {
            return Err(StoreError::invalid("name", "must not be empty", "不能为空"));
        }
        if kind == OrgKind::Grid {
            GridCode::parse(code).map_err(|e| StoreError::invalid_msg("code", e))?;
        }
        if let Some(g) = geometry {
            linli_geo::shape_from_json(g).map_err(|e| {
                StoreError::invalid(
                    "geometry",
                    e.to_string(),
                    format!("边界有误：{}", linli_geo::message_zh(&e.to_string())),
                )
            })?;
        }
        let parent = match parent_id {
            Some(id) => Some(self.org_unit(scope, id).await?),
            None if *scope == Scope::Everything => None,
            None => {
                return Err(StoreError::invalid(
                    "parent_id",
                    "only an administrator of the whole tree may create a root",
                    "只有全市（全区）管理员可以建立最上级组织",
                ));
            }
        };
        let allowed = kind.allowed_parents();
        match &parent {
            Some(p) if !allowed.iter().any(|k| k.code() == p.kind) => {
                return Err(StoreError::invalid(
                    "parent_id",
                    format!("a {} cannot be placed under a {}", kind.code(), p.kind),
                    format!(
                        "{}不能放在{}之下",
                        kind.label_zh(),
                        OrgKind::parse(&p.kind).map_or(p.kind.as_str(), |k| k.label_zh())
                    ),
                ));
            }
            None if !allowed.is_empty() => {
                return Err(StoreError::invalid(
                    "parent_id",
                    format!("a {} needs a parent", kind.code()),
                    format!("{}须有上级组织", kind.label_zh()),
                ));
            }
            _ => {}
        }
        let unit = with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM org_unit WHERE code = $1")
                .bind(code)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                return Err(StoreError::conflict(
                    format!("org code {code} is already used"),
                    format!("组织编码 {code} 已被使用"),
                ));
            }
            let unit = insert_org_in_tx!(tx, parent.as_ref(), kind, code, name, geometry);
            if kind == OrgKind::Grid {
                changed_in_tx!(tx, Cached::Grids);
                changed_in_tx!(tx, Cached::RegistryCounts);
            }
            tx.commit().await?;
            unit
        });
        if kind == OrgKind::Grid {
            self.changed_committed(Cached::Grids).await?;
            self.changed_committed(Cached::RegistryCounts).await?;
        }
        Ok(unit)
    }

    /// One node by id, if it lies in the caller's scope (looked up by the
    /// key alone, then checked: see [`Store::case`]).
    pub async fn org_unit(&self, scope: &Scope, id: i64) -> Result<OrgUnit> {
        let sql = format!("SELECT {ORG_COLS} FROM org_unit WHERE id = $1");
        let unit: Option<OrgUnit> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        match unit {
            Some(u) if scope.covers(&u.path) => Ok(u),
            _ => Err(StoreError::NotFound(format!("org unit {id}"))),
        }
    }

    pub async fn org_by_code(&self, scope: &Scope, code: &str) -> Result<OrgUnit> {
        let sql = format!("SELECT {ORG_COLS} FROM org_unit WHERE code = $1");
        let unit: Option<OrgUnit> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(code).fetch_optional(pool).await?
        });
        match unit {
            Some(u) if scope.covers(&u.path) => Ok(u),
            _ => Err(StoreError::NotFound(format!("org unit {code}"))),
        }
    }

    /// Nodes in scope, optionally of one kind, in tree order.
    pub async fn org_units(&self, scope: &Scope, kind: Option<OrgKind>) -> Result<Vec<OrgUnit>> {
        let (lo, hi) = scope.bounds();
        let sql = format!(
            "SELECT {ORG_COLS} FROM org_unit WHERE path >= $1 AND path < $2 AND ($3 = '' OR kind = $3) ORDER BY path"
        );
        let kind = kind.map(|k| k.code()).unwrap_or("");
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(lo).bind(hi).bind(kind).fetch_all(pool).await?
        }))
    }

    /// The direct children of a node in scope.
    pub async fn org_children(&self, scope: &Scope, parent_id: i64) -> Result<Vec<OrgUnit>> {
        let parent = self.org_unit(scope, parent_id).await?;
        let sql = format!("SELECT {ORG_COLS} FROM org_unit WHERE parent_id = $1 ORDER BY code");
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(parent.id).fetch_all(pool).await?
        }))
    }

    /// The ancestors of a node, root first (for breadcrumbs). The caller
    /// sees the names of the nodes above their scope, as on any letterhead.
    pub async fn org_ancestors(&self, scope: &Scope, id: i64) -> Result<Vec<OrgUnit>> {
        let unit = self.org_unit(scope, id).await?;
        let mut out = Vec::new();
        for anc in unit.org_path()?.ids() {
            if anc == unit.id {
                break;
            }
            let sql = format!("SELECT {ORG_COLS} FROM org_unit WHERE id = $1");
            let a: OrgUnit = with_db!(&self.db, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(anc).fetch_one(pool).await?
            });
            out.push(a);
        }
        Ok(out)
    }

    /// Grids in scope with their GeoJSON geometry.
    pub async fn grid_shapes(&self, scope: &Scope) -> Result<Vec<GridShape>> {
        let (lo, hi) = scope.bounds();
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, code, name, geometry FROM org_unit WHERE kind = 'grid' AND geometry IS NOT NULL AND path >= $1 AND path < $2 ORDER BY path")
                .bind(lo).bind(hi).fetch_all(pool).await?
        }))
    }

    /// The point-in-grid index of all grids, built on first use and kept
    /// until grids change.
    pub async fn grid_index(&self) -> Result<Arc<GridIndex>> {
        if let Ok(g) = self.grid_index.read()
            && let Some(idx) = g.as_ref()
        {
            return Ok(idx.clone());
        }
        let epoch = self.cache_epoch();
        let shapes = self.grid_shapes(&Scope::Everything).await?;
        let mut parts = Vec::with_capacity(shapes.len());
        for s in shapes {
            match linli_geo::shape_from_json(&s.geometry) {
                Ok(shape) => parts.push((s.id, shape)),
                Err(e) => tracing::warn!(grid = s.id, "grid geometry unreadable: {e}"),
            }
        }
        let idx = Arc::new(GridIndex::new(parts));
        if let Ok(mut g) = self.grid_index.write()
            && self.cache_epoch() == epoch
        {
            *g = Some(idx.clone());
        }
        Ok(idx)
    }

    /// The grid holding a WGS-84 point, if it is in the caller's scope.
    pub async fn locate_grid(&self, scope: &Scope, lon: f64, lat: f64) -> Result<Option<OrgUnit>> {
        if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
            return Err(StoreError::invalid(
                "lon/lat",
                "not a WGS-84 position",
                "不是有效的经纬度（WGS-84）",
            ));
        }
        let idx = self.grid_index().await?;
        match idx.locate(lon, lat) {
            Some(id) => match self.org_unit(scope, id).await {
                Ok(u) => Ok(Some(u)),
                Err(StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            },
            None => Ok(None),
        }
    }

    /// Batch point-in-grid: the grid of each point (lon, lat) within the
    /// caller's scope, in input order, by the same index as
    /// [`Store::locate_grid`], on all cores. `None`: in no grid of the
    /// scope, or not a WGS-84 position. A point on an edge shared by two
    /// grids belongs to exactly one of them (the index's half-open rule).
    pub async fn locate_grids(
        &self,
        scope: &Scope,
        points: Vec<(f64, f64)>,
    ) -> Result<Vec<Option<GridHit>>> {
        let idx = self.grid_index().await?;
        let grids: std::collections::HashMap<i64, GridHit> = self
            .org_units(scope, Some(OrgKind::Grid))
            .await?
            .into_iter()
            .map(|u| {
                (
                    u.id,
                    GridHit {
                        id: u.id,
                        code: u.code,
                        name: u.name,
                    },
                )
            })
            .collect();
        let ids = crate::off_async(move || {
            let valid: Vec<(f64, f64)> = points
                .iter()
                .map(|&(x, y)| {
                    if (-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y) {
                        (x, y)
                    } else {
                        // Outside every grid: NaN compares false everywhere.
                        (f64::NAN, f64::NAN)
                    }
                })
                .collect();
            idx.locate_many(&valid)
        })
        .await?;
        Ok(ids
            .into_iter()
            .map(|id| id.and_then(|id| grids.get(&id).cloned()))
            .collect())
    }

    /// Counts of grids, compounds, dwellings, households and people in
    /// scope, from this server's cache: counted once, then kept until a
    /// registry change on any server (its generation) or for
    /// [`COUNTS_TTL_MS`], so an overview does not count a city's rows on
    /// every request.
    pub async fn scope_stats(&self, scope: &Scope) -> Result<ScopeStats> {
        let key = scope.bounds();
        let now = crate::db::now_ms();
        if let Ok(c) = self.scope_counts.lock()
            && let Some((at, stats)) = c.get(&key)
            && now - at < COUNTS_TTL_MS
        {
            return Ok(stats.clone());
        }
        let epoch = self.cache_epoch();
        let stats = self.count_scope(scope).await?;
        if let Ok(mut c) = self.scope_counts.lock()
            && self.cache_epoch() == epoch
        {
            if c.len() > 10_000 {
                c.clear();
            }
            c.insert(key, (now, stats.clone()));
        }
        Ok(stats)
    }

    /// The counts of [`Store::scope_stats`], counted now.
    pub async fn count_scope(&self, scope: &Scope) -> Result<ScopeStats> {
        let (lo, hi) = scope.bounds();
        let mut s = ScopeStats::default();
        for (table, slot) in [
            ("org_unit", &mut s.grids),
            ("compound", &mut s.compounds),
            ("dwelling", &mut s.dwellings),
            ("household", &mut s.households),
            ("person", &mut s.people),
        ] {
            let (col, extra) = if table == "org_unit" {
                ("path", " AND kind = 'grid'")
            } else {
                ("scope_path", "")
            };
            let sql =
                format!("SELECT COUNT(*) FROM {table} WHERE {col} >= $1 AND {col} < $2{extra}");
            *slot = with_db!(&self.db, pool => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(&lo).bind(&hi).fetch_one(pool).await?
            });
        }
        Ok(s)
    }

    /// Registers a staff member attached to an org node in scope.
    pub async fn create_staff(
        &self,
        scope: &Scope,
        org_id: i64,
        name: &str,
        phone: Option<&str>,
    ) -> Result<StaffId> {
        let org = self.org_unit(scope, org_id).await?;
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid("name", "must not be empty", "不能为空"));
        }
        let phone = phone
            .filter(|p| !p.trim().is_empty())
            .map(validate::mobile_phone)
            .transpose()
            .map_err(|e| StoreError::invalid_msg("phone", e))?;
        let enc = phone.as_deref().map(|p| self.vault().seal(Field::Phone, p));
        let idx = phone
            .as_deref()
            .map(|p| self.vault().blind_index(Field::Phone, p));
        Ok(StaffId(with_db!(&self.db, pool => {
            sqlx::query_scalar("INSERT INTO staff (name, phone_enc, phone_idx, org_id, scope_path, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(name).bind(enc).bind(idx).bind(org.id).bind(&org.path).bind(now_ms())
                .fetch_one(pool).await?
        })))
    }

    /// Puts a staff member on a post in a grid (格内定岗). Both must be in scope.
    pub async fn assign_post(
        &self,
        scope: &Scope,
        grid_id: OrgId,
        staff_id: StaffId,
        title: &str,
    ) -> Result<i64> {
        let (grid_id, staff_id) = (grid_id.0, staff_id.0);
        let grid = self.org_unit(scope, grid_id).await?;
        if grid.kind != OrgKind::Grid.code() {
            return Err(StoreError::invalid(
                "grid_id",
                format!("{} is a {}, not a grid", grid.name, grid.kind),
                format!("{}不是网格", grid.name),
            ));
        }
        let title = title.trim();
        if title.is_empty() {
            return Err(StoreError::invalid(
                "title",
                "must not be empty",
                "不能为空",
            ));
        }
        let (lo, hi) = scope.bounds();
        let staff: Option<i64> = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT id FROM staff WHERE id = $1 AND scope_path >= $2 AND scope_path < $3")
                .bind(staff_id).bind(lo).bind(hi).fetch_optional(pool).await?
        });
        let staff = staff.ok_or_else(|| StoreError::NotFound(format!("staff {staff_id}")))?;
        let r: std::result::Result<i64, sqlx::Error> = with_db!(&self.db, pool => {
            sqlx::query_scalar("INSERT INTO post (grid_id, staff_id, title, scope_path, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                .bind(grid.id).bind(staff).bind(title).bind(&grid.path).bind(now_ms())
                .fetch_one(pool).await
        });
        r.map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::conflict(
                format!("staff {staff} already holds '{title}' in this grid"),
                format!("该人员已在本网格担任“{title}”"),
            ),
            e => e.into(),
        })
    }

    /// Posts in scope, optionally of one grid or one staff member.
    pub async fn posts(
        &self,
        scope: &Scope,
        grid_id: Option<i64>,
        staff_id: Option<i64>,
    ) -> Result<Vec<PostView>> {
        let (lo, hi) = scope.bounds();
        // Only the conditions given, so that a grid or a person is found by
        // its index (an "$3 = 0 OR …" form makes the planners scan).
        let mut sql = String::from(
            "SELECT p.id AS post_id, p.grid_id, g.name AS grid_name, p.staff_id, s.name AS staff_name, p.title
             FROM post p JOIN org_unit g ON g.id = p.grid_id JOIN staff s ON s.id = p.staff_id
             WHERE p.scope_path >= $1 AND p.scope_path < $2",
        );
        let mut binds = Vec::new();
        for (col, v) in [("p.grid_id", grid_id), ("p.staff_id", staff_id)] {
            if let Some(v) = v {
                binds.push(v);
                sql.push_str(&format!(" AND {col} = ${}", binds.len() + 2));
            }
        }
        sql.push_str(" ORDER BY g.path, p.title, s.name");
        Ok(with_db!(&self.db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(lo).bind(hi);
            for v in binds {
                q = q.bind(v);
            }
            q.fetch_all(pool).await?
        }))
    }
}
