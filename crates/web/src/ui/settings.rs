//! Administration of the district's lists (管理 · 设置): the category
//! taxonomy, the working-day calendar, the registry tags, the 12345
//! category mapping and the notification gateway. Each form saves one
//! entry (audited by the store) and comes back in place when refused.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, NaiveDate};
use linli_core::calendar::Limit;
use linli_core::category::{Category, Taxonomy};
use linli_core::registry::Tag;

use super::form::{FormState, OneOfForms};
use super::{Chrome, PageCtx, PageError, Viewer, render};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    c: Chrome,
    categories: Vec<Category>,
    /// Unit kinds: (code, label).
    kinds: Vec<(String, String)>,
    /// The year whose special days are listed, the years to pick from and
    /// the days: (date, name, make-up working day).
    year: i32,
    years: Vec<i32>,
    days: Vec<(String, String, bool)>,
    builtin_tags: Vec<&'static str>,
    district_tags: Vec<String>,
    hotline: BTreeMap<String, String>,
    gateway: Option<String>,
    /// The city's extent as set ("" while it is China's).
    extent: String,
    /// The form that came back refused and its values.
    refused: OneOfForms,
    done: Option<String>,
}

impl SettingsPage {
    fn kind_label(&self, code: &Option<String>) -> String {
        let code = code.as_deref().unwrap_or("");
        self.kinds
            .iter()
            .find(|(k, _)| k == code)
            .map_or(code.to_string(), |(_, l)| l.clone())
    }
    fn limit_label(&self, c: &Category) -> String {
        let l = self.c.l;
        match c.limit {
            Some(Limit::WorkingDays(d)) => format!("{d} {}", l.t("个工作日", "working days")),
            Some(Limit::WorkingHours(h)) => format!("{h} {}", l.t("个工作小时", "working hours")),
            None => String::new(),
        }
    }
    /// A category by its path (市容环境 / 乱堆乱放), for the mapping table.
    fn path_of(&self, code: &str) -> String {
        linli_core::category::path_label(&self.categories, code, self.c.l.en)
            .unwrap_or_else(|| format!("{code}{}", self.c.l.t("（已停用）", " (removed)")))
    }
    fn leaves(&self) -> impl Iterator<Item = &Category> {
        self.categories.iter().filter(|c| c.parent.is_some())
    }
    fn tops(&self) -> impl Iterator<Item = &Category> {
        self.categories.iter().filter(|c| c.parent.is_none())
    }
}

/// The taxonomy as stored: the active categories and the shipped unit kinds.
async fn taxonomy(s: &AppState) -> Result<Taxonomy, AppError> {
    let kinds = Taxonomy::default_set()
        .map(|t| t.unit_kinds)
        .map_err(|m| AppError::Internal(m.en))?;
    Ok(Taxonomy {
        unit_kinds: kinds,
        categories: s.store.categories().await?,
    })
}

async fn page(
    s: &AppState,
    ctx: &PageCtx,
    year: Option<i32>,
    refused: Option<(&'static str, FormState)>,
    done: Option<String>,
) -> Result<Response, PageError> {
    let l = ctx.l;
    let t = taxonomy(s).await?;
    // Leaves under their top-level category, in code order.
    let mut categories = t.categories.clone();
    categories.sort_by(|a, b| {
        let key = |c: &Category| {
            (
                c.parent.clone().unwrap_or(c.code.clone()),
                c.parent.is_some(),
                c.code.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    let cal = s.store.calendar();
    let this_year = (chrono::Utc::now() + chrono::Duration::hours(8)).year();
    let mut years: Vec<i32> = cal.years().iter().copied().collect();
    for y in [this_year, this_year + 1] {
        if !years.contains(&y) {
            years.push(y);
        }
    }
    years.sort_unstable();
    let year = year.filter(|y| years.contains(y)).unwrap_or(this_year);
    let days = cal
        .special_days(year)
        .into_iter()
        .map(|(d, n, w)| (d.format("%Y-%m-%d").to_string(), n.to_string(), w))
        .collect();
    let refused = OneOfForms(refused);
    let status = refused
        .is_refused()
        .then_some(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    let mut r = render(SettingsPage {
        c: ctx.chrome(l.t("管理 · 分类与设置", "Administration · lists and settings")),
        kinds: t
            .unit_kinds
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        categories,
        year,
        years,
        days,
        builtin_tags: Tag::ALL.iter().map(|t| t.label_zh()).collect(),
        district_tags: s.store.district_tags().await?,
        hotline: s.store.hotline_categories().await?,
        gateway: s.store.notify_gateway().await?,
        extent: match s.store.city_extent().await? {
            e if e == linli_geo::CHINA => String::new(),
            e => format!("{}, {}, {}, {}", e.min_lon, e.min_lat, e.max_lon, e.max_lat),
        },
        refused,
        done,
    })?;
    if let Some(st) = status {
        *r.status_mut() = st;
    }
    Ok(r)
}

pub async fn settings(
    State(s): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let year = q.get("year").and_then(|y| y.parse().ok());
    page(&s, &ctx, year, None, q.get("done").cloned()).await
}

/// A form's outcome: saved, back to its section (post/redirect/get);
/// refused, the page with the form's values and the message.
async fn outcome(
    s: &AppState,
    ctx: &PageCtx,
    form: &'static str,
    f: HashMap<String, String>,
    r: Result<String, AppError>,
) -> Result<Response, PageError> {
    match r {
        Ok(done) => Ok(Redirect::to(&format!(
            "/admin/settings?done={}{}#{form}",
            super::urlencode(&done),
            f.get("year")
                .map(|y| format!("&year={}", super::urlencode(y)))
                .unwrap_or_default()
        ))
        .into_response()),
        Err(e) => match FormState::refused(f.clone(), &e, ctx.l) {
            Some(state) => {
                let year = f.get("year").and_then(|y| y.parse().ok());
                page(s, ctx, year, Some((form, state)), None).await
            }
            None => Err(e.into()),
        },
    }
}

/// The signed-in administrator, after the form's CSRF token is checked.
fn checked<'a>(ctx: &'a PageCtx, f: &HashMap<String, String>) -> Result<&'a Viewer, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    crate::api::require_everything(&v.caller)?;
    Ok(v)
}

fn text<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map(|x| x.trim()).unwrap_or("")
}

fn whole(f: &HashMap<String, String>, k: &'static str) -> Result<u32, AppError> {
    let v = text(f, k);
    v.parse().map_err(|e: std::num::ParseIntError| {
        AppError::invalid(
            k,
            format!("'{v}' is not a whole number ({e})"),
            format!("“{v}”不是整数"),
        )
    })
}

/// Adds or changes a category (`op=save`), or removes one (`op=remove`).
pub async fn save_category(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = checked(&ctx, &f)?;
    let r = async {
        let t = taxonomy(&s).await?;
        let code = text(&f, "code").to_string();
        // What the saved message names: the category, by its path.
        let mut said = linli_core::category::path_label(&t.categories, &code, ctx.l.en)
            .unwrap_or_else(|| code.clone());
        let t = if text(&f, "op") == "remove" {
            t.without_category(&code)
                .map_err(|m| AppError::invalid_msg("categories", m))?
        } else {
            let parent = Some(text(&f, "parent").to_string()).filter(|p| !p.is_empty());
            let leaf = parent.is_some();
            let c = Category {
                code: code.clone(),
                name: text(&f, "name").to_string(),
                name_en: text(&f, "name_en").to_string(),
                parent,
                response_hours: if leaf {
                    Some(whole(&f, "response_hours")?)
                } else {
                    None
                },
                limit: if leaf {
                    let n = whole(&f, "limit_value")?;
                    Some(if text(&f, "limit_kind") == "working_hours" {
                        Limit::WorkingHours(n)
                    } else {
                        Limit::WorkingDays(n)
                    })
                } else {
                    None
                },
                default_unit_kind: Some(text(&f, "unit_kind").to_string())
                    .filter(|k| leaf && !k.is_empty()),
            };
            let t = t
                .with_category(c)
                .map_err(|m| AppError::invalid_msg("categories", m))?;
            said = linli_core::category::path_label(&t.categories, &code, ctx.l.en)
                .unwrap_or_else(|| code.clone());
            t
        };
        s.store.save_categories(&v.caller.actor, &t).await?;
        Ok::<_, AppError>(said)
    }
    .await;
    outcome(&s, &ctx, "categories", f, r).await
}

/// Marks one day of the calendar: a holiday, a make-up working day or an
/// ordinary day again.
pub async fn save_day(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = checked(&ctx, &f)?;
    let r = async {
        let raw = text(&f, "day");
        let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|e| {
            AppError::invalid(
                "day",
                format!("'{raw}' is not a date ({e})"),
                format!("“{raw}”不是日期（应为 年-月-日）"),
            )
        })?;
        let kind = match text(&f, "kind") {
            "holiday" => Some(false),
            "workday" => Some(true),
            "ordinary" => None,
            other => {
                return Err(AppError::invalid(
                    "kind",
                    format!("unknown kind of day '{other}' (holiday, workday or ordinary)"),
                    format!("没有“{other}”这种日子（可选：放假、调休上班、普通日）"),
                ));
            }
        };
        s.store
            .set_calendar_day(&v.caller.actor, day, kind, text(&f, "name"))
            .await?;
        Ok::<_, AppError>(day.to_string())
    }
    .await;
    let mut f = f;
    if let Some(y) = f.get("day").and_then(|d| d.get(..4)).map(String::from) {
        f.insert("year".into(), y);
    }
    outcome(&s, &ctx, "calendar", f, r).await
}

/// Replaces the district's own tags (one per line).
pub async fn save_tags(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = checked(&ctx, &f)?;
    let r = async {
        let tags: Vec<String> = text(&f, "tags")
            .lines()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
        let saved = s.store.save_district_tags(&v.caller.actor, &tags).await?;
        Ok::<_, AppError>(saved.join("、"))
    }
    .await;
    outcome(&s, &ctx, "tags", f, r).await
}

/// Adds (`op=save`) or removes (`op=remove`) one entry of the 12345
/// category mapping.
pub async fn save_mapping(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = checked(&ctx, &f)?;
    let r = async {
        let key = text(&f, "text");
        let code = (text(&f, "op") != "remove").then(|| text(&f, "category"));
        s.store
            .save_hotline_entry(&v.caller.actor, key, code)
            .await?;
        Ok::<_, AppError>(key.to_string())
    }
    .await;
    outcome(&s, &ctx, "hotline", f, r).await
}

/// Sets or clears the notification gateway.
pub async fn save_gateway(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = checked(&ctx, &f)?;
    let r = async {
        let url = Some(text(&f, "url")).filter(|u| !u.is_empty());
        s.store.set_notify_gateway(&v.caller.actor, url).await?;
        Ok::<_, AppError>(url.unwrap_or("—").to_string())
    }
    .await;
    outcome(&s, &ctx, "gateway", f, r).await
}

/// Sets or clears the city's extent for grid imports.
pub async fn save_extent(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = checked(&ctx, &f)?;
    let r = async {
        let extent = Some(text(&f, "extent")).filter(|x| !x.is_empty());
        s.store.set_city_extent(&v.caller.actor, extent).await?;
        Ok::<_, AppError>(extent.unwrap_or("—").to_string())
    }
    .await;
    outcome(&s, &ctx, "extent", f, r).await
}
