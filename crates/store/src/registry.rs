//! Registry (百姓档案): compounds, buildings, dwellings, households, people.
//! Personal data leaves this module masked unless a caller asks for one
//! person in full, which is written to the audit log.

use linli_core::registry::Tag;
use serde::Serialize;

use crate::audit::append_in_tx;
use crate::db::BeginWrite;
use crate::vault::Field;
use crate::{Result, Scope, Store, StoreError, with_db};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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

/// A person as shown in lists: ID number and phone masked.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PersonView {
    pub id: i64,
    #[serde(skip)]
    pub scope_path: String,
    pub name: String,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub id_masked: Option<String>,
    pub phone_masked: Option<String>,
    pub relation: String,
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

/// One person in full, after the view was audited.
#[derive(Debug, Clone, Serialize)]
pub struct PersonFull {
    pub person: PersonView,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub audit_id: i64,
}

#[derive(Debug, Clone, Default)]
pub struct PeopleFilter {
    pub grid_id: Option<i64>,
    pub tag: Option<Tag>,
    /// Matches any part of the name.
    pub name_contains: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// The columns and joins of a [`PersonView`]; the tag list is aggregated
/// with the portable `string_agg`/`group_concat` chosen per backend.
fn person_select(tags_agg: &str) -> String {
    format!(
        "SELECT p.id, p.scope_path, p.name, p.gender, p.birth_date, p.id_masked, p.phone_masked, p.relation,
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

/// Escapes LIKE wildcards so user text matches literally.
fn escape_like(s: &str) -> String {
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
        let (lo, hi) = scope.bounds();
        let limit = if f.limit <= 0 { 50 } else { f.limit.min(1000) };
        let pattern = f
            .name_contains
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| format!("%{}%", escape_like(n)))
            .unwrap_or_default();
        let sql = format!(
            "{} WHERE p.scope_path >= $1 AND p.scope_path < $2
               AND ($3 = 0 OR c.grid_id = $3)
               AND ($4 = '' OR EXISTS (SELECT 1 FROM person_tag t2 WHERE t2.person_id = p.id AND t2.tag = $4))
               AND ($5 = '' OR p.name LIKE $5 ESCAPE '\\')
             ORDER BY p.id LIMIT $6 OFFSET $7",
            person_select(self.tags_agg())
        );
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(lo).bind(hi)
                .bind(f.grid_id.unwrap_or(0))
                .bind(f.tag.map(|t| t.code()).unwrap_or(""))
                .bind(pattern)
                .bind(limit).bind(f.offset.max(0))
                .fetch_all(pool).await?
        }))
    }

    /// One person, masked (looked up by the key alone, then checked
    /// against the scope: see [`Store::case`]).
    pub async fn person(&self, scope: &Scope, id: i64) -> Result<PersonView> {
        let sql = format!("{} WHERE p.id = $1", person_select(self.tags_agg()));
        let p: Option<PersonView> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        match p {
            Some(p) if scope.covers(&p.scope_path) => Ok(p),
            _ => Err(StoreError::NotFound(format!("person {id}"))),
        }
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
        if reason.trim().is_empty() {
            return Err(StoreError::invalid(
                "reason",
                "a reason is required to view personal data in full",
            ));
        }
        let person = self.person(scope, id).await?;
        let (audit_id, id_enc, phone_enc) = with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let audit_id = append_in_tx!(tx, actor, "person.view_unmasked", &format!("person:{id}"), reason.trim());
            let (id_enc, phone_enc): (Option<Vec<u8>>, Option<Vec<u8>>) =
                sqlx::query_as("SELECT id_enc, phone_enc FROM person WHERE id = $1")
                    .bind(id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            (audit_id, id_enc, phone_enc)
        });
        Ok(PersonFull {
            person,
            id_number: id_enc
                .map(|e| self.vault().open(Field::IdNumber, &e))
                .transpose()?,
            phone: phone_enc
                .map(|e| self.vault().open(Field::Phone, &e))
                .transpose()?,
            audit_id,
        })
    }

    /// People in scope whose ID number is exactly this (via the blind index).
    pub async fn find_by_id_number(
        &self,
        scope: &Scope,
        id_number: &str,
    ) -> Result<Vec<PersonView>> {
        let idx = self
            .vault()
            .blind_index(Field::IdNumber, &id_number.trim().to_ascii_uppercase());
        self.find_by_index("id_idx", idx, scope).await
    }

    /// People in scope with exactly this mobile number.
    pub async fn find_by_phone(&self, scope: &Scope, phone: &str) -> Result<Vec<PersonView>> {
        let phone = linli_core::validate::mobile_phone(phone)
            .map_err(|e| StoreError::invalid("phone", e.0))?;
        let idx = self.vault().blind_index(Field::Phone, &phone);
        self.find_by_index("phone_idx", idx, scope).await
    }

    async fn find_by_index(
        &self,
        column: &str,
        idx: Vec<u8>,
        scope: &Scope,
    ) -> Result<Vec<PersonView>> {
        let (lo, hi) = scope.bounds();
        let sql = format!(
            "{} WHERE p.{column} = $1 AND p.scope_path >= $2 AND p.scope_path < $3 ORDER BY p.id",
            person_select(self.tags_agg())
        );
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(idx).bind(lo).bind(hi).fetch_all(pool).await?
        }))
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
