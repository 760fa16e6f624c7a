//! Handling units (承办单位) and dispatch rules (派单规则). Which unit a
//! case goes to is decided by [`linli_core::dispatch::choose_unit`].

use linli_core::dispatch::{self, Rule, UnitAt};
use linli_core::ids::{OrgId, UnitId};

use serde::Serialize;

use crate::db::{BeginWrite, now_ms};
use crate::{Result, Scope, Store, StoreError, with_db};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct HandlingUnit {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub org_id: i64,
    pub scope_path: String,
    pub webhook_url: Option<String>,
}

/// A dispatch rule as an administrator reads it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct DispatchRuleView {
    pub id: i64,
    pub category_code: String,
    pub category_name: String,
    pub place: String,
    pub unit: String,
}

impl Store {
    /// Registers a handling unit at an org node in scope.
    pub async fn create_unit(
        &self,
        scope: &Scope,
        org_id: i64,
        name: &str,
        kind: &str,
        webhook_url: Option<&str>,
    ) -> Result<HandlingUnit> {
        let org = self.org_unit(scope, org_id).await?;
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid("name", "must not be empty", "不能为空"));
        }
        if kind.trim().is_empty() {
            return Err(StoreError::invalid("kind", "must not be empty", "不能为空"));
        }
        if let Some(u) = webhook_url {
            linli_core::dispatch::check_webhook_url(u)
                .map_err(|m| StoreError::invalid_msg("webhook_url", m))?;
        }
        let r: std::result::Result<i64, sqlx::Error> = with_db!(&self.db, pool => {
            sqlx::query_scalar("INSERT INTO handling_unit (name, kind, org_id, scope_path, webhook_url, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(name).bind(kind.trim()).bind(org.id).bind(&org.path).bind(webhook_url).bind(now_ms())
                .fetch_one(pool).await
        });
        let id = r.map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::conflict(
                format!("{} already has a unit named {name}", org.name),
                format!("{}已有名为“{name}”的承办单位", org.name),
            ),
            e => e.into(),
        })?;
        Ok(HandlingUnit {
            id,
            name: name.into(),
            kind: kind.trim().into(),
            org_id: org.id,
            scope_path: org.path,
            webhook_url: webhook_url.map(String::from),
        })
    }

    /// Units serving the scope: those attached inside it and those above it
    /// (a district department serves every community below). Read by the
    /// area's paths, not by reading a city's units.
    pub async fn units(&self, scope: &Scope) -> Result<Vec<HandlingUnit>> {
        let mut w = crate::db::Conditions::default();
        match scope {
            Scope::Everything => {}
            Scope::Subtree(p) => {
                let (lo, hi) = (w.text(p.as_str()), w.text(&p.subtree_end()));
                let path = p.as_str();
                // The proper prefixes of the path: its ancestors' paths.
                let above: Vec<String> = path
                    .match_indices('/')
                    .skip(1)
                    .map(|(i, _)| path[..=i].to_string())
                    .filter(|a| a.len() < path.len())
                    .map(|a| w.text(&a))
                    .collect();
                let above = if above.is_empty() {
                    String::new()
                } else {
                    format!(" OR scope_path IN ({})", above.join(", "))
                };
                w.push(format!("(scope_path >= {lo} AND scope_path < {hi}{above})"));
            }
            Scope::Reporter(_) | Scope::Unit(_) => return Ok(Vec::new()),
        }
        let sql = format!(
            "SELECT id, name, kind, org_id, scope_path, webhook_url FROM handling_unit{} ORDER BY scope_path, name",
            w.where_sql()
        );
        Ok(with_db!(&self.db, pool => {
            crate::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &w.args).fetch_all(pool).await?
        }))
    }

    /// The units with these ids (any area), for their names and webhooks.
    pub async fn units_by_id(&self, ids: &[i64]) -> Result<Vec<HandlingUnit>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = crate::db::Conditions::default();
        let list: Vec<String> = ids.iter().map(|i| w.int(*i)).collect();
        let sql = format!(
            "SELECT id, name, kind, org_id, scope_path, webhook_url FROM handling_unit WHERE id IN ({})",
            list.join(", ")
        );
        Ok(with_db!(&self.db, pool => {
            crate::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &w.args).fetch_all(pool).await?
        }))
    }

    /// The dispatch rules of places in scope, by place and category.
    pub async fn dispatch_rules(&self, scope: &Scope) -> Result<Vec<DispatchRuleView>> {
        let (lo, hi) = scope.bounds();
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT r.id, r.category_code, c.name AS category_name, o.name AS place, u.name AS unit
                   FROM dispatch_rule r
                   JOIN category c ON c.code = r.category_code
                   JOIN org_unit o ON o.id = r.org_id
                   JOIN handling_unit u ON u.id = r.unit_id
                  WHERE r.scope_path >= $1 AND r.scope_path < $2
                  ORDER BY r.scope_path, r.category_code LIMIT 1000",
            )
            .bind(lo).bind(hi).fetch_all(pool).await?
        }))
    }

    /// Sets the rule "this category at this place goes to this unit".
    pub async fn set_dispatch_rule(
        &self,
        scope: &Scope,
        category: &str,
        org_id: OrgId,
        unit_id: UnitId,
    ) -> Result<()> {
        let (org_id, unit_id) = (org_id.0, unit_id.0);
        let cat = self.leaf_category(category).await?;
        let org = self.org_unit(scope, org_id).await?;
        let unit = self
            .units(scope)
            .await?
            .into_iter()
            .find(|u| u.id == unit_id)
            .ok_or_else(|| StoreError::NotFound(format!("unit {unit_id}")))?;
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM dispatch_rule WHERE category_code = $1 AND org_id = $2")
                .bind(&cat.code).bind(org.id).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO dispatch_rule (category_code, org_id, unit_id, scope_path) VALUES ($1, $2, $3, $4)")
                .bind(&cat.code).bind(org.id).bind(unit.id).bind(&org.path).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The unit a case goes to by the rules: a dispatch rule for its
    /// category at the nearest place above it, else the nearest unit of
    /// the category's default kind.
    pub async fn suggest_unit(
        &self,
        scope_path: &str,
        category: &str,
    ) -> Result<Option<HandlingUnit>> {
        let rules: Vec<(String, i64)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT scope_path, unit_id FROM dispatch_rule WHERE category_code = $1")
                .bind(category).fetch_all(pool).await?
        });
        let units: Vec<HandlingUnit> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, name, kind, org_id, scope_path, webhook_url FROM handling_unit ORDER BY id")
                .fetch_all(pool).await?
        });
        // A category no longer active still follows its rules.
        let default_kind = match self.leaf_category(category).await {
            Ok(c) => c.default_unit_kind,
            Err(StoreError::Invalid { .. }) => None,
            Err(e) => return Err(e),
        };
        let rules: Vec<Rule> = rules
            .into_iter()
            .map(|(place, unit)| Rule { place, unit })
            .collect();
        let at: Vec<UnitAt> = units
            .iter()
            .map(|u| UnitAt {
                id: u.id,
                place: u.scope_path.clone(),
                kind: u.kind.clone(),
            })
            .collect();
        let chosen = dispatch::choose_unit(scope_path, &rules, &at, default_kind.as_deref());
        Ok(chosen.and_then(|id| units.into_iter().find(|u| u.id == id)))
    }
}
