//! Registry (百姓档案): compounds, buildings, dwellings, households, people.
//! Personal data leaves this module masked unless a caller asks for one
//! person in full, which is written to the audit log.

use linli_core::registry::Tag;
use serde::Serialize;

use crate::audit::append_in_tx;
use crate::db::BeginWrite;
use crate::vault::Field;
use crate::{Result, Scope, Store, StoreError, with_db};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Compound {
    pub id: i64,
    pub grid_id: i64,
    pub grid_code: String,
    pub grid_name: String,
    pub name: String,
    pub address: String,
    pub management_mode: String,
    pub property_company: Option<String>,
    pub property_company_code: Option<String>,
    pub facilities: String,
    pub known_problems: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub buildings: i64,
    pub dwellings: i64,
}

/// A compound as a place a request can be put: its grid and point.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CompoundPlace {
    pub id: i64,
    pub name: String,
    pub grid_code: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
}

/// What an address names: one compound, none, or a name several grids have.
#[derive(Debug, Clone)]
pub enum AddressMatch {
    Compound(CompoundPlace),
    Nowhere,
    Several(Vec<String>),
}

/// A person as shown in lists: ID number and phone masked.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct PersonView {
    pub id: i64,
    #[serde(skip)]
    pub scope_path: String,
    pub name: String,
    pub gender: Option<String>,
    /// Only the year is kept in clear; it is shown as a ten-year band.
    #[serde(skip)]
    pub birth_year: Option<i32>,
    /// "60–69", filled in after the read (see [`PersonView::with_age_band`]).
    #[sqlx(skip)]
    pub age_band: Option<String>,
    pub id_masked: Option<String>,
    pub phone_masked: Option<String>,
    /// A landline as 028-****1234.
    pub landline_masked: Option<String>,
    /// Ownership or tenancy of the dwelling (owner, tenant, resident).
    pub relation: String,
    /// Relation to the head of the household as the ledger writes it
    /// (户主, 配偶, 子女 …).
    pub head_relation: Option<String>,
    pub tags: String,
    pub household_id: i64,
    pub household_no: String,
    pub dwelling_id: i64,
    pub unit_no: String,
    pub room_no: String,
    pub floor_area: Option<f64>,
    pub building: String,
    pub compound: String,
    pub grid_code: String,
    pub grid_name: String,
}

impl PersonView {
    /// The person's tags (built-in ones by code, the district's as written).
    pub fn tag_list(&self) -> Vec<String> {
        self.tags
            .split(',')
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    }

    fn with_age_band(mut self, this_year: i32) -> Self {
        self.age_band = self
            .birth_year
            .map(|y| linli_core::mask::age_band_label(y, this_year, false))
            .filter(|b| !b.is_empty());
        self
    }
}

/// A sealed column, if set.
type Sealed = Option<Vec<u8>>;

/// This year in Beijing time, for age bands.
pub(crate) fn this_year() -> i32 {
    use chrono::Datelike;
    (chrono::Utc::now() + chrono::Duration::hours(8)).year()
}

fn with_age_bands(people: Vec<PersonView>) -> Vec<PersonView> {
    let y = this_year();
    people.into_iter().map(|p| p.with_age_band(y)).collect()
}

/// One person in full, after the view was audited.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PersonFull {
    pub person: PersonView,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub landline: Option<String>,
    pub birth_date: Option<String>,
    pub audit_id: i64,
}

#[derive(Debug, Clone, Default)]
pub struct PeopleFilter {
    pub grid_id: Option<i64>,
    pub tag: Option<Tag>,
    /// A tag of the district's own list (see [`Store::district_tags`]).
    pub district_tag: Option<String>,
    /// Matches any part of the name.
    pub name_contains: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Keyset paging: only people with a larger id (the last of the
    /// previous page).
    pub after_id: Option<i64>,
}

/// The columns and joins of a [`PersonView`]; the tag list is aggregated
/// with the portable `string_agg`/`group_concat` chosen per backend.
fn person_select(tags_agg: &str) -> String {
    format!(
        "SELECT p.id, p.scope_path, p.name, p.gender, p.birth_year, p.id_masked, p.phone_masked, p.landline_masked, p.relation, p.head_relation,
                COALESCE((SELECT {tags_agg} FROM person_tag t WHERE t.person_id = p.id), '') AS tags,
                h.id AS household_id, h.household_no, d.id AS dwelling_id, d.unit_no, d.room_no, d.floor_area,
                b.name AS building, c.name AS compound, g.code AS grid_code, g.name AS grid_name
         FROM person p
         JOIN household h ON h.id = p.household_id
         JOIN dwelling d ON d.id = h.dwelling_id
         JOIN building b ON b.id = d.building_id
         JOIN compound c ON c.id = b.compound_id
         JOIN org_unit g ON g.id = c.grid_id"
    )
}

/// A name filter longer than any name is refused (and a huge one would
/// make a LIKE pattern the database cannot run).
const MAX_NAME_FILTER_CHARS: usize = 50;

/// Escapes LIKE wildcards so user text matches literally.
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    pub(crate) fn tags_agg(&self) -> &'static str {
        match self.backend() {
            crate::Backend::Sqlite => "group_concat(t.tag, ',')",
            crate::Backend::Postgres => "string_agg(t.tag, ',' ORDER BY t.tag)",
        }
    }

    /// People in scope, masked, filtered and paged.
    pub async fn people(&self, scope: &Scope, f: &PeopleFilter) -> Result<Vec<PersonView>> {
        let limit = if f.limit <= 0 { 50 } else { f.limit.min(1000) };
        let name = f.name_contains.as_deref().map(str::trim).unwrap_or("");
        if name.chars().count() > MAX_NAME_FILTER_CHARS {
            return Err(StoreError::invalid(
                "name",
                format!("is longer than {MAX_NAME_FILTER_CHARS} characters"),
                format!("不能超过{MAX_NAME_FILTER_CHARS}个字"),
            ));
        }
        let pattern = if name.is_empty() {
            String::new()
        } else {
            format!("%{}%", escape_like(name))
        };
        if f.offset > crate::cases::MAX_OFFSET {
            return Err(StoreError::invalid(
                "offset",
                format!(
                    "is more than {}: page on with after (the last id of the page)",
                    crate::cases::MAX_OFFSET
                ),
                format!(
                    "翻页偏移不能超过{}，请缩小筛选范围",
                    crate::cases::MAX_OFFSET
                ),
            ));
        }
        let mut tree = scope.clone();
        let mut w = crate::db::Conditions::default();
        if let Some(g) = f.grid_id {
            // A grid's people lie under its path.
            tree = match self.org_unit(&tree, g).await {
                Ok(grid) => grid.scope()?,
                Err(StoreError::NotFound(_) | StoreError::OutOfScope(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
        }
        if let Scope::Subtree(path) = &tree {
            let (lo, hi) = (w.text(path.as_str()), w.text(&path.subtree_end()));
            w.push(format!("p.scope_path >= {lo} AND p.scope_path < {hi}"));
        } else if !matches!(tree, Scope::Everything) {
            return Ok(Vec::new());
        }
        if let Some(g) = f.grid_id {
            let p = w.int(g);
            w.push(format!(
                "p.household_id IN (SELECT h.id FROM household h JOIN dwelling d ON d.id = h.dwelling_id JOIN building b ON b.id = d.building_id JOIN compound c ON c.id = b.compound_id WHERE c.grid_id = {p})"
            ));
        }
        let tag = f.tag.map(|t| t.code()).or(f.district_tag.as_deref());
        if let Some(t) = tag {
            let p = w.text(t);
            w.push(format!(
                "EXISTS (SELECT 1 FROM person_tag t2 WHERE t2.person_id = p.id AND t2.tag = {p})"
            ));
        }
        if !pattern.is_empty() {
            let p = w.text(&pattern);
            w.push(format!("p.name LIKE {p} ESCAPE '\\'"));
        }
        if let Some(after) = f.after_id {
            // After the given person in (place, id) order.
            let p = w.int(after);
            w.push(format!(
                "(p.scope_path, p.id) > (SELECT scope_path, id FROM person WHERE id = {p})"
            ));
        }
        // People are listed by place (their org path) and id, read in that
        // order from the path index: a page is the next rows of the index,
        // however wide the area.
        let hint = match self.backend() {
            crate::Backend::Sqlite => " INDEXED BY person_scope",
            crate::Backend::Postgres => "",
        };
        let (lim, off) = (w.int(limit), w.int(f.offset.max(0)));
        let sql = format!(
            "{} WHERE p.id IN (SELECT p.id FROM person p{hint}{} ORDER BY p.scope_path, p.id LIMIT {lim} OFFSET {off}) ORDER BY p.scope_path, p.id",
            person_select(self.tags_agg()),
            w.where_sql()
        );
        let people: Vec<PersonView> = with_db!(&self.db, pool => {
            crate::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &w.args).fetch_all(pool).await?
        });
        Ok(with_age_bands(people))
    }

    /// One person, masked (looked up by the key alone, then checked
    /// against the scope: see [`Store::case`]).
    pub async fn person(&self, scope: &Scope, id: i64) -> Result<PersonView> {
        let sql = format!("{} WHERE p.id = $1", person_select(self.tags_agg()));
        let p: Option<PersonView> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        match p {
            Some(p) if scope.covers(&p.scope_path) => Ok(p.with_age_band(this_year())),
            _ => Err(StoreError::NotFound(format!("person {id}"))),
        }
    }

    /// The people of a dwelling in scope (its households: families that
    /// share a flat each have their own), by household.
    pub async fn dwelling_people(
        &self,
        scope: &Scope,
        dwelling_id: i64,
    ) -> Result<Vec<PersonView>> {
        let sql = format!(
            "{} WHERE d.id = $1 ORDER BY h.household_no, p.id LIMIT 200",
            person_select(self.tags_agg())
        );
        let people: Vec<PersonView> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(dwelling_id).fetch_all(pool).await?
        });
        let year = this_year();
        Ok(people
            .into_iter()
            .filter(|p| scope.covers(&p.scope_path))
            .map(|p| p.with_age_band(year))
            .collect())
    }

    /// The cases a person in scope reported from their mobile number (by
    /// its blind index; the viewer already sees the person, so nothing is
    /// guessed and no look-up is audited), newest first.
    pub async fn person_cases(
        &self,
        scope: &Scope,
        person_id: i64,
    ) -> Result<Vec<crate::cases::CaseView>> {
        self.person(scope, person_id).await?;
        let idx: Option<Vec<u8>> = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT phone_idx FROM person WHERE id = $1")
                .bind(person_id).fetch_one(pool).await?
        });
        let Some(idx) = idx else {
            return Ok(Vec::new());
        };
        self.cases(
            scope,
            &crate::cases::CaseFilter {
                reporter_phone_idx: Some(crate::cases::PhoneIndex(idx)),
                limit: 50,
                ..Default::default()
            },
        )
        .await
    }

    /// One person with ID number and phone in clear. The audit entry is
    /// written first, in the same transaction as the read: no entry, no data.
    pub async fn person_unmasked(
        &self,
        scope: &Scope,
        id: i64,
        actor: &str,
        reason: &str,
    ) -> Result<PersonFull> {
        let reason = crate::audit::check_reason(reason)?;
        let person = self.person(scope, id).await?;
        let (audit_id, id_enc, phone_enc, birth_enc, landline_enc) = with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let audit_id = append_in_tx!(tx, self.vault(), actor, "person.view_unmasked", &format!("person:{id}"), reason.trim());
            let (id_enc, phone_enc, birth_enc, landline_enc): (Sealed, Sealed, Sealed, Sealed) =
                sqlx::query_as("SELECT id_enc, phone_enc, birth_enc, landline_enc FROM person WHERE id = $1")
                    .bind(id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            (audit_id, id_enc, phone_enc, birth_enc, landline_enc)
        });
        Ok(PersonFull {
            person,
            id_number: id_enc
                .map(|e| self.vault().open(Field::IdNumber, &e))
                .transpose()?,
            phone: phone_enc
                .map(|e| self.vault().open(Field::Phone, &e))
                .transpose()?,
            landline: landline_enc
                .map(|e| self.vault().open(Field::Phone, &e))
                .transpose()?,
            birth_date: birth_enc
                .map(|e| self.vault().open(Field::BirthDate, &e))
                .transpose()?,
            audit_id,
        })
    }

    /// People in scope whose ID number is exactly this (via the blind
    /// index). A look-up confirms or denies a guess, so it is written to
    /// the audit log (with the masked number and how many matched) in the
    /// same transaction as the read; callers must also throttle it.
    pub async fn find_by_id_number(
        &self,
        scope: &Scope,
        id_number: &str,
        actor: &str,
    ) -> Result<Vec<PersonView>> {
        let id = id_number.trim().to_ascii_uppercase();
        let idx = self.vault().blind_index(Field::IdNumber, &id);
        let detail = linli_core::mask::id_number(&id);
        self.find_by_index(
            "id_idx",
            idx,
            scope,
            actor,
            "person.lookup_id_number",
            &detail,
        )
        .await
    }

    /// People in scope with exactly this mobile number; audited as
    /// [`Store::find_by_id_number`].
    pub async fn find_by_phone(
        &self,
        scope: &Scope,
        phone: &str,
        actor: &str,
    ) -> Result<Vec<PersonView>> {
        let phone = linli_core::validate::mobile_phone(phone)
            .map_err(|e| StoreError::invalid_msg("phone", e))?;
        let idx = self.vault().blind_index(Field::Phone, &phone);
        let detail = linli_core::mask::phone(&phone);
        self.find_by_index(
            "phone_idx",
            idx,
            scope,
            actor,
            "person.lookup_phone",
            &detail,
        )
        .await
    }

    async fn find_by_index(
        &self,
        column: &str,
        idx: Vec<u8>,
        scope: &Scope,
        actor: &str,
        action: &str,
        masked: &str,
    ) -> Result<Vec<PersonView>> {
        let (lo, hi) = scope.bounds();
        let sql = format!(
            "{} WHERE p.{column} = $1 AND p.scope_path >= $2 AND p.scope_path < $3 ORDER BY p.id LIMIT 100",
            person_select(self.tags_agg())
        );
        let people: Vec<PersonView> = with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let people: Vec<PersonView> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(idx).bind(lo).bind(hi).fetch_all(&mut *tx).await?;
            let target = match people.as_slice() {
                [one] => format!("person:{}", one.id),
                _ => format!("people:{}", people.len()),
            };
            append_in_tx!(tx, self.vault(), actor, action, &target, &format!("{masked} ({} found)", people.len()));
            tx.commit().await?;
            people
        });
        Ok(with_age_bands(people))
    }

    /// Rows written before migration 9: a clear birth date is sealed (the
    /// year kept), an ID number's mask is written anew from the sealed
    /// number. `linli serve` runs it in the background at every start (a
    /// city's registry takes minutes; until a row is done its ID shows no
    /// mask), other commands before they start; a partial index makes it
    /// free once done. Logs its progress; returns how many rows it changed.
    pub async fn seal_legacy_people(&self) -> Result<u64> {
        let mut changed = 0u64;
        loop {
            let batch: Vec<(i64, Option<String>, Sealed, Option<String>)> = with_db!(&self.db, pool => {
                sqlx::query_as(
                    "SELECT id, birth_date, id_enc, id_masked FROM person
                     WHERE birth_date IS NOT NULL OR (id_enc IS NOT NULL AND id_masked IS NULL)
                     ORDER BY id LIMIT 2000",
                ).fetch_all(pool).await?
            });
            if batch.is_empty() {
                return Ok(changed);
            }
            let mut rows = Vec::with_capacity(batch.len());
            for (id, birth, id_enc, id_masked) in batch {
                let birth_enc = birth
                    .as_deref()
                    .map(|b| self.vault().seal(Field::BirthDate, b));
                let masked = match (&id_enc, id_masked) {
                    (Some(e), None) => Some(linli_core::mask::id_number(
                        &self.vault().open(Field::IdNumber, e)?,
                    )),
                    (_, m) => m,
                };
                rows.push((id, birth_enc, masked));
            }
            with_db!(&self.db, pool => {
                let mut tx = pool.begin_write().await?;
                for (id, birth_enc, masked) in &rows {
                    sqlx::query(
                        "UPDATE person SET birth_enc = COALESCE($1, birth_enc), birth_date = NULL, id_masked = $2 WHERE id = $3",
                    )
                    .bind(birth_enc).bind(masked).bind(id)
                    .execute(&mut *tx).await?;
                }
                tx.commit().await?;
            });
            changed += rows.len() as u64;
            if changed % 100_000 < rows.len() as u64 {
                tracing::info!(people = changed, "sealing legacy birth dates and ID masks");
            }
        }
    }

    /// The compound an address names, for a request that came with words
    /// and no point (Open311's address_string): the compounds of the area
    /// whose name (or recorded address) the text contains; the longest
    /// name wins, and the same name in several grids is ambiguous.
    pub async fn place_address(&self, scope: &Scope, text: &str) -> Result<AddressMatch> {
        let text = linli_core::ledger::half_width(text.trim()).into_owned();
        if text.chars().count() < 2 {
            return Ok(AddressMatch::Nowhere);
        }
        let (lo, hi) = scope.bounds();
        let found: Vec<CompoundPlace> = with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT c.id, c.name, g.code AS grid_code, c.lon, c.lat
                 FROM compound c JOIN org_unit g ON g.id = c.grid_id
                 WHERE c.scope_path >= $1 AND c.scope_path < $2 AND length(c.name) >= 2
                   AND ($3 LIKE '%' || c.name || '%' OR (length(c.address) >= 4 AND $3 LIKE '%' || c.address || '%'))
                 ORDER BY length(c.name) DESC, c.id LIMIT 20",
            )
            .bind(lo).bind(hi).bind(&text)
            .fetch_all(pool).await?
        });
        let Some(best) = found.first() else {
            return Ok(AddressMatch::Nowhere);
        };
        let longest = best.name.chars().count();
        let mut same: Vec<CompoundPlace> = found
            .iter()
            .filter(|c| c.name.chars().count() == longest)
            .cloned()
            .collect();
        same.dedup_by(|a, b| a.name == b.name && a.grid_code == b.grid_code);
        Ok(match same.len() {
            1 => AddressMatch::Compound(same.remove(0)),
            _ => AddressMatch::Several(same.into_iter().map(|c| c.name).collect()),
        })
    }

    /// A compound of the area by its id (Open311's address_id).
    pub async fn compound_place(&self, scope: &Scope, id: i64) -> Result<CompoundPlace> {
        let (lo, hi) = scope.bounds();
        let found: Option<CompoundPlace> = with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT c.id, c.name, g.code AS grid_code, c.lon, c.lat
                 FROM compound c JOIN org_unit g ON g.id = c.grid_id
                 WHERE c.id = $1 AND c.scope_path >= $2 AND c.scope_path < $3",
            )
            .bind(id).bind(lo).bind(hi)
            .fetch_optional(pool).await?
        });
        found.ok_or_else(|| StoreError::NotFound(format!("no compound {id} in your area")))
    }

    /// Compounds in scope (the compound ledger, 一院一档).
    pub async fn compounds(&self, scope: &Scope, grid_id: Option<i64>) -> Result<Vec<Compound>> {
        let (lo, hi) = scope.bounds();
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT c.id, c.grid_id, g.code AS grid_code, g.name AS grid_name, c.name, c.address, c.management_mode,
                        c.property_company, c.property_company_code, c.facilities, c.known_problems, c.lon, c.lat,
                        (SELECT COUNT(*) FROM building b WHERE b.compound_id = c.id) AS buildings,
                        (SELECT COUNT(*) FROM dwelling d JOIN building b ON b.id = d.building_id WHERE b.compound_id = c.id) AS dwellings
                 FROM compound c JOIN org_unit g ON g.id = c.grid_id
                 WHERE c.scope_path >= $1 AND c.scope_path < $2 AND ($3 = 0 OR c.grid_id = $3)
                 ORDER BY g.path, c.name",
            )
            .bind(lo).bind(hi).bind(grid_id.unwrap_or(0))
            .fetch_all(pool).await?
        }))
    }
}
