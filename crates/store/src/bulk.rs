//! Loading a generated city (`linli gen`) at bulk speed.
//!
//! A generator thread builds one grid at a time and seals its personal data;
//! the loader writes batches with multi-row INSERTs and explicit ids, and
//! commits every few grids. Memory stays flat whatever the population.

use std::sync::mpsc;

use chrono::Datelike;
use linli_core::mask;
use linli_core::org::OrgKind;
use linli_core::synth::{CityPlan, Synth};
use serde::Serialize;

use crate::db::BeginWrite;
use crate::db::now_ms;
use crate::org::{OrgUnit, insert_org_in_tx};
use crate::vault::{Field, Vault};
use crate::{Result, Scope, Store, StoreError, with_db};

#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadStats {
    pub org_units: u64,
    pub staff: u64,
    pub compounds: u64,
    pub buildings: u64,
    pub dwellings: u64,
    pub households: u64,
    pub people: u64,
    pub tags: u64,
    pub handling_units: u64,
}

type CompoundRow = (
    i64,
    i64,
    String,
    String,
    String,
    &'static str,
    Option<String>,
    String,
    String,
    f64,
    f64,
);
type BuildingRow = (i64, i64, String, String, f64, f64);
type DwellingRow = (i64, i64, String, String, String, f64);
type HouseholdRow = (i64, i64, String, String);
type PersonRow = (
    i64,
    i64,
    String,
    String,
    &'static str,
    // Birth year in clear, birth date sealed.
    (i32, Vec<u8>),
    Vec<u8>,
    Vec<u8>,
    String,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<String>,
    &'static str,
);

/// One grid's rows, ids assigned and personal data sealed.
#[derive(Default)]
struct Batch {
    compounds: Vec<CompoundRow>,
    buildings: Vec<BuildingRow>,
    dwellings: Vec<DwellingRow>,
    households: Vec<HouseholdRow>,
    people: Vec<PersonRow>,
    tags: Vec<(i64, &'static str)>,
}

impl Batch {
    fn len(&self) -> usize {
        self.people.len() + self.dwellings.len()
    }
    fn absorb(&mut self, other: Batch) {
        self.compounds.extend(other.compounds);
        self.buildings.extend(other.buildings);
        self.dwellings.extend(other.dwellings);
        self.households.extend(other.households);
        self.people.extend(other.people);
        self.tags.extend(other.tags);
    }
}

#[derive(Default, Clone, Copy)]
struct NextIds {
    compound: i64,
    building: i64,
    dwelling: i64,
    household: i64,
    person: i64,
}

fn build_batch(
    synth: &mut Synth,
    i: usize,
    grid: &(i64, String),
    ids: &mut NextIds,
    vault: &Vault,
) -> Batch {
    let g = synth.grid(i);
    let (grid_id, path) = grid;
    let mut b = Batch::default();
    for c in g.compounds {
        ids.compound += 1;
        let cid = ids.compound;
        b.compounds.push((
            cid,
            *grid_id,
            path.clone(),
            c.name,
            c.address,
            c.mode.code(),
            c.property_company,
            c.facilities,
            c.known_problems,
            c.lon,
            c.lat,
        ));
        for bl in c.buildings {
            ids.building += 1;
            let bid = ids.building;
            b.buildings
                .push((bid, cid, path.clone(), bl.name, bl.lon, bl.lat));
            for d in bl.dwellings {
                ids.dwelling += 1;
                let did = ids.dwelling;
                b.dwellings
                    .push((did, bid, path.clone(), d.unit_no, d.room_no, d.floor_area));
                for (hn, h) in d.households.into_iter().enumerate() {
                    ids.household += 1;
                    let hid = ids.household;
                    b.households
                        .push((hid, did, path.clone(), (hn + 1).to_string()));
                    for p in h.people {
                        ids.person += 1;
                        let pid = ids.person;
                        for t in &p.tags {
                            b.tags.push((pid, t.code()));
                        }
                        b.people.push((
                            pid,
                            hid,
                            path.clone(),
                            p.name,
                            p.gender.code(),
                            (
                                p.birth_date.year(),
                                vault.seal(
                                    Field::BirthDate,
                                    &p.birth_date.format("%Y-%m-%d").to_string(),
                                ),
                            ),
                            vault.seal(Field::IdNumber, &p.id_number),
                            vault.blind_index(Field::IdNumber, &p.id_number),
                            mask::id_number(&p.id_number),
                            p.phone.as_deref().map(|x| vault.seal(Field::Phone, x)),
                            p.phone
                                .as_deref()
                                .map(|x| vault.blind_index(Field::Phone, x)),
                            p.phone.as_deref().map(mask::phone),
                            p.relation.code(),
                        ));
                    }
                }
            }
        }
    }
    b
}

/// Rows per INSERT statement: under SQLite's 32,766 bound parameters.
const ROWS_PER_INSERT: usize = 1_000;
/// Rows (people + dwellings) per transaction.
const ROWS_PER_COMMIT: usize = 50_000;

macro_rules! insert_rows {
    ($tx:expr, $head:literal, $rows:expr, |$b:ident, $r:ident| $push:block) => {
        for chunk in $rows.chunks(ROWS_PER_INSERT) {
            let mut qb = sqlx::QueryBuilder::new($head);
            qb.push_values(chunk, |mut $b, $r| $push);
            qb.build().execute(&mut *$tx).await?;
        }
    };
}

impl Store {
    /// Generates a synthetic city of `people` residents with `seed` and
    /// loads it. The database must not yet hold an org tree.
    pub async fn load_synth(
        &self,
        people: u64,
        seed: u64,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<LoadStats> {
        let existing = self
            .org_units(&Scope::Everything, Some(OrgKind::City))
            .await?;
        if !existing.is_empty() {
            return Err(StoreError::conflict(
                "the database already holds an org tree; generate into an empty database",
                "数据库中已有组织架构，请生成到空数据库",
            ));
        }
        let today = chrono::Local::now().date_naive();
        let synth = Synth::new(people, seed, today);
        let plan = synth.plan().clone();
        let mut stats = LoadStats::default();
        let grids = self.load_plan(&plan, &mut stats).await?;
        self.changed(crate::caches::Cached::Grids).await?;

        let mut ids = NextIds::default();
        let vault = self.vault.clone();
        let (tx_batches, rx_batches) = mpsc::sync_channel::<Batch>(4);
        let grid_refs = grids.clone();
        let producer = std::thread::spawn(move || {
            let mut synth = synth;
            for (i, g) in grid_refs.iter().enumerate() {
                let b = build_batch(&mut synth, i, g, &mut ids, &vault);
                if tx_batches.send(b).is_err() {
                    break;
                }
            }
        });
        // The receiver blocks; hand it to a blocking thread and forward.
        let (fwd_tx, mut fwd_rx) = tokio::sync::mpsc::channel::<Batch>(4);
        let forward = tokio::task::spawn_blocking(move || {
            while let Ok(b) = rx_batches.recv() {
                if fwd_tx.blocking_send(b).is_err() {
                    break;
                }
            }
        });
        let mut pending = Batch::default();
        let mut done_people = 0u64;
        loop {
            let next = fwd_rx.recv().await;
            let finished = next.is_none();
            if let Some(b) = next {
                pending.absorb(b);
            }
            if pending.len() >= ROWS_PER_COMMIT || (finished && pending.len() > 0) {
                let batch = std::mem::take(&mut pending);
                stats.compounds += batch.compounds.len() as u64;
                stats.buildings += batch.buildings.len() as u64;
                stats.dwellings += batch.dwellings.len() as u64;
                stats.households += batch.households.len() as u64;
                stats.people += batch.people.len() as u64;
                stats.tags += batch.tags.len() as u64;
                done_people += batch.people.len() as u64;
                self.write_batch(batch).await?;
                progress(done_people, people);
            }
            if finished {
                break;
            }
        }
        let _ = forward.await;
        let _ = producer.join();
        self.fix_sequences().await?;
        stats.handling_units = self.ensure_synth_units().await?;
        self.audit(
            "system",
            "registry.generate",
            "registry",
            &serde_json::json!({"people": people, "seed": seed}).to_string(),
        )
        .await?;
        self.changed(crate::caches::Cached::RegistryCounts).await?;
        self.analyze().await?;
        Ok(stats)
    }

    /// Writes the org tree of a plan, one staff member per grid and a
    /// community head who holds a post in every grid of the community
    /// (一格多员 and 多格一员). Returns (id, path) of each grid in order.
    async fn load_plan(
        &self,
        plan: &CityPlan,
        stats: &mut LoadStats,
    ) -> Result<Vec<(i64, String)>> {
        let now = now_ms();
        let vault = self.vault.clone();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let mut units: Vec<OrgUnit> = Vec::with_capacity(plan.nodes.len());
            let mut community_head: Vec<Option<i64>> = vec![None; plan.nodes.len()];
            let mut phone_seq = 0u64;
            let mut staff = |name: String, unit: &OrgUnit| {
                phone_seq += 1;
                let phone = format!("139{:08}", 10_000_000 + phone_seq);
                (name, vault.seal(Field::Phone, &phone), vault.blind_index(Field::Phone, &phone), unit.id, unit.path.clone())
            };
            for (i, n) in plan.nodes.iter().enumerate() {
                let parent = n.parent.map(|p| &units[p]);
                let geometry = n.polygon.as_ref().map(|r| linli_geo::to_geojson(&linli_geo::ring_to_shape(r)).to_string());
                let unit = insert_org_in_tx!(tx, parent, n.kind, n.code.as_str(), n.name.as_str(), geometry);
                stats.org_units += 1;
                if n.kind == OrgKind::Community {
                    let (name, enc, idx, org, path) = staff(format!("{}书记", n.name), &unit);
                    let id: i64 = sqlx::query_scalar("INSERT INTO staff (name, phone_enc, phone_idx, org_id, scope_path, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                        .bind(name).bind(enc).bind(idx).bind(org).bind(path).bind(now)
                        .fetch_one(&mut *tx).await?;
                    stats.staff += 1;
                    community_head[i] = Some(id);
                }
                if n.kind == OrgKind::Grid {
                    let (name, enc, idx, org, path) = staff(format!("{}网格员", n.name), &unit);
                    let id: i64 = sqlx::query_scalar("INSERT INTO staff (name, phone_enc, phone_idx, org_id, scope_path, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                        .bind(name).bind(enc).bind(idx).bind(org).bind(path.clone()).bind(now)
                        .fetch_one(&mut *tx).await?;
                    stats.staff += 1;
                    sqlx::query("INSERT INTO post (grid_id, staff_id, title, scope_path, created_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(unit.id).bind(id).bind("专职网格员").bind(&path).bind(now)
                        .execute(&mut *tx).await?;
                    // The community head is grid leader of every grid below it.
                    let mut up = n.parent;
                    while let Some(p) = up {
                        if let Some(head) = community_head[p] {
                            sqlx::query("INSERT INTO post (grid_id, staff_id, title, scope_path, created_at) VALUES ($1, $2, $3, $4, $5)")
                                .bind(unit.id).bind(head).bind("网格长").bind(&path).bind(now)
                                .execute(&mut *tx).await?;
                            break;
                        }
                        up = plan.nodes[p].parent;
                    }
                }
                units.push(unit);
            }
            tx.commit().await?;
            Ok(plan.grids.iter().map(|&g| (units[g].id, units[g].path.clone())).collect())
        })
    }

    /// Refreshes the planner's statistics after a bulk load (PostgreSQL
    /// plans by them; SQLite's list queries name their index).
    pub async fn analyze(&self) -> Result<()> {
        if let crate::Db::Postgres(p) = &self.db {
            sqlx::query("ANALYZE").execute(p).await?;
        }
        Ok(())
    }

    async fn write_batch(&self, b: Batch) -> Result<()> {
        let now = now_ms();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            insert_rows!(tx, "INSERT INTO compound (id, grid_id, scope_path, name, address, management_mode, property_company, facilities, known_problems, lon, lat, created_at) ", b.compounds, |q, r| {
                q.push_bind(r.0).push_bind(r.1).push_bind(&r.2).push_bind(&r.3).push_bind(&r.4).push_bind(r.5)
                    .push_bind(&r.6).push_bind(&r.7).push_bind(&r.8).push_bind(r.9).push_bind(r.10).push_bind(now);
            });
            insert_rows!(tx, "INSERT INTO building (id, compound_id, scope_path, name, lon, lat) ", b.buildings, |q, r| {
                q.push_bind(r.0).push_bind(r.1).push_bind(&r.2).push_bind(&r.3).push_bind(r.4).push_bind(r.5);
            });
            insert_rows!(tx, "INSERT INTO dwelling (id, building_id, scope_path, unit_no, room_no, floor_area) ", b.dwellings, |q, r| {
                q.push_bind(r.0).push_bind(r.1).push_bind(&r.2).push_bind(&r.3).push_bind(&r.4).push_bind(r.5);
            });
            insert_rows!(tx, "INSERT INTO household (id, dwelling_id, scope_path, household_no) ", b.households, |q, r| {
                q.push_bind(r.0).push_bind(r.1).push_bind(&r.2).push_bind(&r.3);
            });
            insert_rows!(tx, "INSERT INTO person (id, household_id, scope_path, name, gender, birth_year, birth_enc, id_enc, id_idx, id_masked, phone_enc, phone_idx, phone_masked, relation, created_at, updated_at) ", b.people, |q, r| {
                q.push_bind(r.0).push_bind(r.1).push_bind(&r.2).push_bind(&r.3).push_bind(r.4).push_bind(r.5.0).push_bind(&r.5.1)
                    .push_bind(&r.6).push_bind(&r.7).push_bind(&r.8).push_bind(&r.9).push_bind(&r.10).push_bind(&r.11)
                    .push_bind(r.12).push_bind(now).push_bind(now);
            });
            insert_rows!(tx, "INSERT INTO person_tag (person_id, tag) ", b.tags, |q, r| {
                q.push_bind(r.0).push_bind(r.1);
            });
            tx.commit().await?;
        });
        Ok(())
    }

    /// After inserts with explicit ids, PostgreSQL's identity sequences
    /// must be moved past them.
    async fn fix_sequences(&self) -> Result<()> {
        if let crate::Db::Postgres(pool) = &self.db {
            for t in ["compound", "building", "dwelling", "household", "person"] {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{t}', 'id'), COALESCE((SELECT MAX(id) FROM {t}), 0) + 1, false)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
            }
        }
        Ok(())
    }
}
