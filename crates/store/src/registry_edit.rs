//! Keeping one person's record up to date (档案维护): a worker changes the
//! phone, the relations and the tags. Each change is written to the audit
//! log with what changed (the phone masked), in the same transaction.

use linli_core::registry::{Relation, Tag, head_relation, person_tags};

use crate::audit::append_in_tx;
use crate::db::{BeginWrite, now_ms};
use crate::registry::PersonView;
use crate::vault::Field;
use crate::{Result, Scope, Store, StoreError, with_db};

/// What an edit sets.
#[derive(Debug, Clone, Default)]
pub struct PersonEdit {
    /// A new mobile number; `None` (or blank) keeps the stored one.
    pub phone: Option<String>,
    /// Removes the stored mobile number.
    pub clear_phone: bool,
    /// Owner, tenant or resident (code or label); `None` keeps it.
    pub relation: Option<String>,
    /// Relation to the head of the household (户主, 配偶 …), blank for
    /// none; `None` keeps it.
    pub head_relation: Option<String>,
    /// The person's tags: built-in ones by code or label, district ones
    /// as listed; `None` keeps them.
    pub tags: Option<Vec<String>>,
}

impl Store {
    /// Edits a person in scope; returns them as now stored. Nothing is
    /// written (or audited) when nothing changed.
    pub async fn edit_person(
        &self,
        scope: &Scope,
        actor: &str,
        id: i64,
        e: &PersonEdit,
    ) -> Result<PersonView> {
        let before = self.person(scope, id).await?;
        let relation = Relation::parse(e.relation.as_deref().unwrap_or(&before.relation))
            .map_err(|m| StoreError::invalid_msg("relation", m))?;
        let head = match &e.head_relation {
            Some(h) => head_relation(h).map_err(|m| StoreError::invalid_msg("head_relation", m))?,
            None => before.head_relation.clone(),
        };
        let had = before.tag_list();
        let tags = match &e.tags {
            Some(t) => person_tags(t, &self.district_tags().await?, &had)
                .map_err(|m| StoreError::invalid_msg("tags", m))?,
            None => had.clone(),
        };
        // Some(Some(new)), Some(None) to remove, None to keep.
        let phone = match e.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(Some(
                linli_core::validate::mobile_phone(p)
                    .map_err(|m| StoreError::invalid_msg("phone", m))?,
            )),
            None if e.clear_phone => Some(None),
            None => None,
        };
        // What changed, as the audit log shows it (labels, phone masked).
        let mut changed: Vec<String> = Vec::new();
        if relation.code() != before.relation {
            let was = Relation::parse(&before.relation)
                .map_or(before.relation.as_str(), |r| r.label_zh());
            changed.push(format!("居住关系 {was} → {}", relation.label_zh()));
        }
        if head != before.head_relation {
            changed.push(format!(
                "与户主关系 {} → {}",
                before.head_relation.as_deref().unwrap_or("无"),
                head.as_deref().unwrap_or("无")
            ));
        }
        let added: Vec<&String> = tags.iter().filter(|t| !had.contains(t)).collect();
        let removed: Vec<&String> = had.iter().filter(|t| !tags.contains(t)).collect();
        if !added.is_empty() || !removed.is_empty() {
            let list = |v: &[&String]| {
                v.iter()
                    .map(|t| Tag::parse(t).map_or(t.as_str(), |b| b.label_zh()))
                    .collect::<Vec<_>>()
                    .join("、")
            };
            changed.push(format!("标签 增[{}] 减[{}]", list(&added), list(&removed)));
        }
        match &phone {
            Some(Some(p)) => changed.push(format!("手机 → {}", linli_core::mask::phone(p))),
            Some(None) if before.phone_masked.is_some() => changed.push("删除手机".into()),
            _ => {}
        }
        if changed.is_empty() {
            return Ok(before);
        }
        let sealed = phone.as_ref().map(|p| {
            p.as_deref().map(|p| {
                (
                    self.vault().seal(Field::Phone, p),
                    self.vault().blind_index(Field::Phone, p),
                    linli_core::mask::phone(p),
                )
            })
        });
        let detail = changed.join("；");
        let now = now_ms();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE person SET relation = $1, head_relation = $2, updated_at = $3 WHERE id = $4")
                .bind(relation.code()).bind(&head).bind(now).bind(id)
                .execute(&mut *tx).await?;
            if let Some(p) = &sealed {
                let (enc, idx, masked) = match p {
                    Some((e, i, m)) => (Some(e.clone()), Some(i.clone()), Some(m.clone())),
                    None => (None, None, None),
                };
                sqlx::query("UPDATE person SET phone_enc = $1, phone_idx = $2, phone_masked = $3 WHERE id = $4")
                    .bind(enc).bind(idx).bind(masked).bind(id)
                    .execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM person_tag WHERE person_id = $1").bind(id).execute(&mut *tx).await?;
            for t in &tags {
                sqlx::query("INSERT INTO person_tag (person_id, tag) VALUES ($1, $2)")
                    .bind(id).bind(t).execute(&mut *tx).await?;
            }
            append_in_tx!(tx, self.vault(), actor, "person.edit", &format!("person:{id}"), &detail);
            tx.commit().await?;
        });
        self.person(scope, id).await
    }
}
