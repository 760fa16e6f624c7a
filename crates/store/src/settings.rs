//! Settings an administrator keeps: the category taxonomy and the
//! working-day calendar (years added to the shipped one). Both are cached
//! per server and dropped when changed (see [`crate::caches`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use linli_core::calendar::{Calendar, Limit};
use linli_core::category::{Category, Taxonomy};

use crate::audit::append_in_tx;
use crate::caches::{Cached, changed_in_tx};
use crate::db::{BeginWrite, now_ms};
use crate::{Msg, Result, Store, StoreError, with_db};

/// The setting that holds the registry import templates.
const IMPORT_TEMPLATES: &str = "import.templates.registry";
/// The setting that holds the district's own tags.
const DISTRICT_TAGS: &str = "registry.tags";
/// The setting that holds the 12345 category mapping.
const HOTLINE_CATEGORIES: &str = "hotline.categories";

const CITY_EXTENT: &str = "city.extent";

/// "min lon, min lat, max lon, max lat" in WGS-84 degrees.
fn parse_extent(text: &str) -> std::result::Result<[f64; 4], Msg> {
    let normal = linli_core::ledger::half_width(text).replace(['，', ';', '；'], ",");
    let parts: Vec<&str> = normal
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    let wrong = || {
        Msg::new(
            format!(
                "'{text}' is not four numbers: min longitude, min latitude, max longitude, max latitude (e.g. 102.9, 30.0, 105.0, 31.5)"
            ),
            format!(
                "“{text}”不是四个数：最小经度、最小纬度、最大经度、最大纬度（如 102.9, 30.0, 105.0, 31.5）"
            ),
        )
    };
    let [a, b, c, d] = parts.as_slice() else {
        return Err(wrong());
    };
    let n = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite());
    let (Some(min_lon), Some(min_lat), Some(max_lon), Some(max_lat)) = (n(a), n(b), n(c), n(d))
    else {
        return Err(wrong());
    };
    let lon = -180.0..=180.0;
    let lat = -90.0..=90.0;
    if !(lon.contains(&min_lon)
        && lon.contains(&max_lon)
        && lat.contains(&min_lat)
        && lat.contains(&max_lat))
    {
        return Err(Msg::new(
            "longitudes lie within -180..180 and latitudes within -90..90",
            "经度须在 -180 至 180 之间，纬度须在 -90 至 90 之间",
        ));
    }
    if min_lon >= max_lon || min_lat >= max_lat {
        return Err(Msg::new(
            "the minimum longitude and latitude come first, each below its maximum",
            "须先写最小经度、最小纬度，且各自小于最大值",
        ));
    }
    Ok([min_lon, min_lat, max_lon, max_lat])
}

impl Store {
    /// The working-day calendar: the shipped one plus years an
    /// administrator added.
    pub fn calendar(&self) -> Calendar {
        match self.calendar.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Adds or replaces calendar years from a calendar file; kept in the
    /// database so that it survives restarts.
    pub async fn extend_calendar(&self, actor: &str, json: &str) -> Result<Vec<i32>> {
        let extra =
            Calendar::from_json(json).map_err(|e| StoreError::invalid_msg("calendar", e))?;
        let years: Vec<i32> = extra.years().iter().copied().collect();
        let key = format!(
            "calendar.{}",
            years
                .iter()
                .map(|y| y.to_string())
                .collect::<Vec<_>>()
                .join("-")
        );
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM setting WHERE key = $1").bind(&key).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO setting (key, value, updated_at) VALUES ($1, $2, $3)")
                .bind(&key).bind(json).bind(now_ms()).execute(&mut *tx).await?;
            append_in_tx!(tx, self.vault(), actor, "calendar.extend", &key, "");
            changed_in_tx!(tx, Cached::Calendar);
            tx.commit().await?;
        });
        self.changed_committed(Cached::Calendar).await?;
        Ok(years)
    }

    /// Marks one day as a holiday (`Some(false)`), a make-up working day
    /// (`Some(true)`) or an ordinary day (`None`): its year is stored
    /// again as a whole. Deadlines already set are kept; new ones count
    /// on the changed calendar.
    pub async fn set_calendar_day(
        &self,
        actor: &str,
        day: chrono::NaiveDate,
        workday: Option<bool>,
        name: &str,
    ) -> Result<()> {
        use chrono::Datelike;
        let mut cal = self.calendar();
        cal.set_day(day, workday, name)
            .map_err(|m| StoreError::invalid_msg("calendar", m))?;
        self.extend_calendar(actor, &cal.year_json(day.year()))
            .await
            .map(|_| ())
    }

    /// Loads stored calendar years and seeds the default categories into
    /// an empty category table. Called on open.
    pub(crate) async fn load_settings(&self) -> Result<()> {
        self.reload_calendar().await?;
        let count = || async {
            let n: i64 = with_db!(&self.db, pool => {
                sqlx::query_scalar("SELECT COUNT(*) FROM category").fetch_one(pool).await?
            });
            Ok::<_, StoreError>(n)
        };
        if count().await? == 0 {
            let t = Taxonomy::default_set().map_err(|e| StoreError::Config(e.en))?;
            if let Err(e) = self.write_categories(None, &t).await {
                // Servers starting together on a new database: one of them
                // seeds, the others find its categories.
                if count().await? == 0 {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The shipped calendar plus the years stored by administrators.
    pub(crate) async fn reload_calendar(&self) -> Result<()> {
        let _one_at_a_time = self.calendar_reload.lock().await;
        let extras: Vec<String> = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT value FROM setting WHERE key LIKE 'calendar.%' ORDER BY updated_at, key").fetch_all(pool).await?
        });
        let mut cal = Calendar::china().map_err(|e| StoreError::Config(e.en))?;
        for e in extras {
            match Calendar::from_json(&e) {
                Ok(c) => cal.extend(c),
                Err(err) => tracing::warn!("stored calendar ignored: {err}"),
            }
        }
        if let Ok(mut c) = self.calendar.write() {
            *c = cal;
        }
        Ok(())
    }

    /// The plausible extent of the city's grids: a grid import refuses a
    /// grid outside it (swapped coordinates, a projection, another city's
    /// file). China's extent until an administrator sets the city's.
    pub async fn city_extent(&self) -> Result<linli_geo::Extent> {
        let stored: Option<[f64; 4]> = self.json_setting(CITY_EXTENT, "city extent").await?;
        Ok(
            stored.map_or(linli_geo::CHINA, |[min_lon, min_lat, max_lon, max_lat]| {
                linli_geo::Extent {
                    min_lon,
                    min_lat,
                    max_lon,
                    max_lat,
                }
            }),
        )
    }

    /// Sets the city's extent from "min lon, min lat, max lon, max lat" in
    /// degrees (commas of either width, or spaces), or clears it (China's).
    pub async fn set_city_extent(&self, actor: &str, text: Option<&str>) -> Result<()> {
        let text = text.map(str::trim).filter(|t| !t.is_empty());
        let value = match text {
            None => None,
            Some(t) => Some(parse_extent(t).map_err(|m| StoreError::invalid_msg("extent", m))?),
        };
        self.save_json_setting(
            actor,
            CITY_EXTENT,
            &value,
            "city_extent.set",
            text.unwrap_or(""),
        )
        .await
    }

    /// A setting kept as JSON; its default when it was never saved.
    pub(crate) async fn json_setting<T: serde::de::DeserializeOwned + Default>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<T> {
        let stored: Option<String> = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT value FROM setting WHERE key = $1")
                .bind(key).fetch_optional(pool).await?
        });
        match stored {
            None => Ok(T::default()),
            Some(v) => serde_json::from_str(&v)
                .map_err(|e| StoreError::Config(format!("stored {what}: {e}"))),
        }
    }

    /// Replaces a JSON setting, with its audit entry in the same transaction.
    pub(crate) async fn save_json_setting<T: serde::Serialize>(
        &self,
        actor: &str,
        key: &str,
        value: &T,
        action: &str,
        detail: &str,
    ) -> Result<()> {
        let json = serde_json::to_string(value)
            .map_err(|e| StoreError::Config(format!("setting {key}: {e}")))?;
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM setting WHERE key = $1").bind(key).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO setting (key, value, updated_at) VALUES ($1, $2, $3)")
                .bind(key).bind(&json).bind(now_ms()).execute(&mut *tx).await?;
            append_in_tx!(tx, self.vault(), actor, action, key, detail);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The 12345 category mapping staff keep: a category as a hotline
    /// platform writes it (exactly, e.g. 城乡建设/市容环境/乱堆乱放) → a
    /// leaf category code of linli.
    pub async fn hotline_categories(&self) -> Result<BTreeMap<String, String>> {
        self.json_setting(HOTLINE_CATEGORIES, "12345 category mapping")
            .await
    }

    /// Replaces the 12345 category mapping; every target must be a leaf
    /// category (the error names the entry). Audited.
    pub async fn save_hotline_categories(
        &self,
        actor: &str,
        map: &BTreeMap<String, String>,
    ) -> Result<()> {
        let mut clean = BTreeMap::new();
        for (text, code) in map {
            let (text, code) = self.hotline_entry(text, code).await?;
            clean.insert(text, code);
        }
        let detail = format!("{} entries", clean.len());
        self.save_json_setting(
            actor,
            HOTLINE_CATEGORIES,
            &clean,
            "hotline_categories.replace",
            &detail,
        )
        .await
    }

    /// One entry of the 12345 mapping, checked: the text as a platform
    /// writes it (half-width, 1–200 characters) → an active leaf category.
    async fn hotline_entry(&self, text: &str, code: &str) -> Result<(String, String)> {
        let text = linli_core::ledger::half_width(text.trim()).into_owned();
        if text.is_empty() || text.chars().count() > 200 {
            return Err(StoreError::invalid(
                "hotline",
                format!("'{text}' is not a category text of 1 to 200 characters"),
                format!("“{text}”应为1至200个字的分类名称"),
            ));
        }
        let c = self.leaf_category(code).await.map_err(|e| match e {
            StoreError::Invalid { message, .. } => StoreError::invalid(
                "hotline",
                format!("{text}: {}", message.en),
                format!("{text}：{}", message.zh),
            ),
            other => other,
        })?;
        Ok((text, c.code))
    }

    /// Sets (`Some(code)`) or removes (`None`) one entry of the 12345
    /// mapping; only that entry is checked, so an entry whose category was
    /// removed since can still be removed or changed. Audited.
    pub async fn save_hotline_entry(
        &self,
        actor: &str,
        text: &str,
        code: Option<&str>,
    ) -> Result<()> {
        let mut map = self.hotline_categories().await?;
        let detail = match code {
            Some(code) => {
                let (text, code) = self.hotline_entry(text, code).await?;
                let detail = format!("{text} → {code}");
                map.insert(text, code);
                detail
            }
            None => {
                let text = linli_core::ledger::half_width(text.trim()).into_owned();
                if map.remove(&text).is_none() {
                    return Err(StoreError::invalid(
                        "hotline",
                        format!("there is no entry '{text}'"),
                        format!("没有“{text}”这一条对照"),
                    ));
                }
                format!("删除 {text}")
            }
        };
        self.save_json_setting(
            actor,
            HOTLINE_CATEGORIES,
            &map,
            "hotline_categories.replace",
            &detail,
        )
        .await
    }

    /// The tags a district adds to the built-in ones, as staff write them
    /// (低保户, 空巢老人 …), in the order the administrator gave.
    pub async fn district_tags(&self) -> Result<Vec<String>> {
        self.json_setting(DISTRICT_TAGS, "tag list").await
    }

    /// Replaces the district's tag list; each tag is checked (the error
    /// names it), duplicates dropped. Audited. Tags already on people are
    /// kept on them whether listed or not.
    pub async fn save_district_tags(&self, actor: &str, tags: &[String]) -> Result<Vec<String>> {
        let mut clean: Vec<String> = Vec::new();
        for t in tags {
            let t = linli_core::registry::district_tag(t)
                .map_err(|e| StoreError::invalid_msg("tags", e))?;
            if !clean.contains(&t) {
                clean.push(t);
            }
        }
        self.save_json_setting(
            actor,
            DISTRICT_TAGS,
            &clean,
            "tags.replace",
            &clean.join("、"),
        )
        .await?;
        Ok(clean)
    }

    /// Named column mappings for registry imports (导入模板): name →
    /// (header as written → field key, "" for not imported).
    pub async fn import_templates(&self) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
        self.json_setting(IMPORT_TEMPLATES, "import templates")
            .await
    }

    /// Saves (or replaces) a named column mapping. Audited.
    pub async fn save_import_template(
        &self,
        actor: &str,
        name: &str,
        mapping: &BTreeMap<String, String>,
    ) -> Result<()> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 40 {
            return Err(StoreError::invalid(
                "template",
                "a template needs a name of 1 to 40 characters",
                "模板名称应为1至40个字",
            ));
        }
        let mut all = self.import_templates().await?;
        all.insert(name.to_string(), mapping.clone());
        self.save_json_setting(actor, IMPORT_TEMPLATES, &all, "import_template.save", name)
            .await
    }

    /// Replaces the category taxonomy (an administrator's edit), audited in
    /// the same transaction. Categories in use are kept and deactivated
    /// rather than deleted.
    pub async fn save_categories(&self, actor: &str, t: &Taxonomy) -> Result<()> {
        self.write_categories(Some(actor), t).await
    }

    /// Writes the taxonomy; audited when someone (not the first start's
    /// seeding) changes it.
    async fn write_categories(&self, actor: Option<&str>, t: &Taxonomy) -> Result<()> {
        let detail = format!("{} categories", t.categories.len());
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE category SET active = FALSE").execute(&mut *tx).await?;
            for c in &t.categories {
                let (kind, value) = match c.limit {
                    Some(Limit::WorkingDays(d)) => (Some("working_days"), Some(d as i32)),
                    Some(Limit::WorkingHours(h)) => (Some("working_hours"), Some(h as i32)),
                    None => (None, None),
                };
                let exists: Option<String> = sqlx::query_scalar("SELECT code FROM category WHERE code = $1")
                    .bind(&c.code).fetch_optional(&mut *tx).await?;
                let sql = if exists.is_some() {
                    "UPDATE category SET parent_code = $2, name = $3, name_en = $4, response_hours = $5, limit_kind = $6, limit_value = $7, default_unit_kind = $8, active = TRUE WHERE code = $1"
                } else {
                    "INSERT INTO category (code, parent_code, name, name_en, response_hours, limit_kind, limit_value, default_unit_kind, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE)"
                };
                sqlx::query(sql)
                    .bind(&c.code).bind(&c.parent).bind(&c.name).bind(&c.name_en)
                    .bind(c.response_hours.map(|h| h as i32)).bind(kind).bind(value).bind(&c.default_unit_kind)
                    .execute(&mut *tx).await?;
            }
            if let Some(actor) = actor {
                append_in_tx!(tx, self.vault(), actor, "categories.replace", "category", &detail);
            }
            changed_in_tx!(tx, Cached::Categories);
            tx.commit().await?;
        });
        self.changed_committed(Cached::Categories).await
    }

    /// The active categories.
    pub async fn categories(&self) -> Result<Vec<Category>> {
        Ok(self.category_list().await?.as_ref().clone())
    }

    /// The active categories, from the cache when it is warm.
    pub(crate) async fn category_list(&self) -> Result<Arc<Vec<Category>>> {
        if let Ok(c) = self.categories.read()
            && let Some(list) = c.as_ref()
        {
            return Ok(list.clone());
        }
        let epoch = self.cache_epoch();
        let list = Arc::new(self.read_categories().await?);
        if let Ok(mut c) = self.categories.write()
            && self.cache_epoch() == epoch
        {
            *c = Some(list.clone());
        }
        Ok(list)
    }

    async fn read_categories(&self) -> Result<Vec<Category>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            code: String,
            parent_code: Option<String>,
            name: String,
            name_en: String,
            response_hours: Option<i32>,
            limit_kind: Option<String>,
            limit_value: Option<i32>,
            default_unit_kind: Option<String>,
        }
        let rows: Vec<Row> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT code, parent_code, name, name_en, response_hours, limit_kind, limit_value, default_unit_kind FROM category WHERE active = TRUE ORDER BY code")
                .fetch_all(pool).await?
        });
        let count = |v: i32| u32::try_from(v).unwrap_or(0);
        Ok(rows
            .into_iter()
            .map(|r| Category {
                limit: match (r.limit_kind.as_deref(), r.limit_value) {
                    (Some("working_days"), Some(v)) => Some(Limit::WorkingDays(count(v))),
                    (Some("working_hours"), Some(v)) => Some(Limit::WorkingHours(count(v))),
                    _ => None,
                },
                response_hours: r.response_hours.map(count),
                code: r.code,
                parent: r.parent_code,
                name: r.name,
                name_en: r.name_en,
                default_unit_kind: r.default_unit_kind,
            })
            .collect())
    }

    pub(crate) async fn leaf_category(&self, code: &str) -> Result<Category> {
        let c = self
            .category_list()
            .await?
            .iter()
            .find(|c| c.code == code.trim())
            .cloned()
            .ok_or_else(|| {
                StoreError::invalid(
                    "category",
                    format!("unknown category '{code}'"),
                    format!("没有“{code}”这个问题类别"),
                )
            })?;
        if !c.is_leaf() {
            return Err(StoreError::invalid(
                "category",
                format!(
                    "'{}' ({}) is a group; choose one of its sub-categories",
                    c.code, c.name_en
                ),
                format!("“{}”是大类，请选择其下的小类", c.name),
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_extent;

    #[test]
    fn an_extent_is_four_ordered_numbers_in_range() {
        assert_eq!(
            parse_extent("102.9, 30.0, 105.0, 31.5").unwrap(),
            [102.9, 30.0, 105.0, 31.5]
        );
        assert_eq!(
            parse_extent("１０２.９，30 105；31.5").unwrap(),
            [102.9, 30.0, 105.0, 31.5]
        );
        assert!(parse_extent("102.9, 30.0, 105.0").is_err());
        assert!(
            parse_extent("105.0, 30.0, 102.9, 31.5").is_err(),
            "min after max"
        );
        assert!(
            parse_extent("30.0, 102.9, 31.5, 105.0").is_err(),
            "latitude out of range"
        );
        assert!(parse_extent("a, b, c, d").is_err());
    }
}
