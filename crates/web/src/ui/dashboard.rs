//! The subdistrict/district dashboard: rates by unit for a period, the
//! monthly trend and the category mix (ECharts), the map of grids and
//! cases (Leaflet over GeoJSON, tiles only when configured), the overdue
//! list.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use linli_core::period;
use linli_store::cases::{CaseFilter, CaseView};
use linli_store::rates::Rates;
use serde_json::json;

use super::cases::{beijing, state_label};
use super::{Chrome, PageCtx, PageError, render};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    c: Chrome,
    period: String,
    rows: Vec<Rates>,
    total: Rates,
    trend: String,
    mix: String,
    overdue: Vec<CaseView>,
    tiles: String,
}

impl Dashboard {
    fn pct(&self, r: &Option<f64>) -> String {
        r.map(|x| format!("{:.1}%", x * 100.0))
            .unwrap_or_else(|| "—".into())
    }
    fn unit(&self, r: &Rates) -> String {
        r.unit_name
            .clone()
            .unwrap_or_else(|| self.c.l.t("未派遣", "Not dispatched").to_string())
    }
    fn state(&self, code: &str) -> String {
        state_label(self.c.l, code)
    }
    fn when_opt(&self, ms: &Option<i64>) -> String {
        ms.map(beijing).unwrap_or_default()
    }
}

pub async fn dashboard(
    State(s): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let scope = &v.caller.scope;
    let now = chrono::Utc::now();
    let this_year = (now + chrono::Duration::hours(8)).format("%Y").to_string();
    let period = q
        .get("period")
        .filter(|p| !p.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| this_year.clone());
    let (from, to) =
        period::parse_period(&period).map_err(|e| AppError::invalid_msg("period", e))?;
    let (rows, total) = s.store.rates(scope, from, to).await?;
    // The last twelve Beijing months, each from the rollup.
    let beijing_now = now + chrono::Duration::hours(8);
    let (y, m) = (
        chrono::Datelike::year(&beijing_now),
        chrono::Datelike::month(&beijing_now) as i32,
    );
    let keys: Vec<i32> = (0..12).rev().map(|back| y * 12 + (m - 1) - back).collect();
    let months: Vec<String> = keys
        .iter()
        .map(|k| format!("{}-{:02}", k / 12, k % 12 + 1))
        .collect();
    // The whole trend in one read of the rollup (yyyymm keys).
    let yyyymm = |k: i32| (k / 12) * 100 + k % 12 + 1;
    let by_month = s
        .store
        .monthly_trend(scope, yyyymm(keys[0]), yyyymm(keys[11] + 1))
        .await?;
    let mut requests = Vec::new();
    let mut closed = Vec::new();
    let mut satisfaction = Vec::new();
    for k in &keys {
        let t = by_month
            .iter()
            .find(|t| t.month == yyyymm(*k))
            .cloned()
            .unwrap_or_default();
        requests.push(t.requests);
        closed.push(t.closed);
        satisfaction.push(
            (t.rated > 0).then(|| (t.satisfied as f64 * 1000.0 / t.rated as f64).round() / 10.0),
        );
    }
    let trend = json!({"months": months, "requests": requests, "closed": closed, "satisfaction": satisfaction}).to_string();
    let mix: Vec<_> = s
        .store
        .category_mix(scope, from, to)
        .await?
        .into_iter()
        .map(|m| {
            let label = if ctx.l.en { m.name_en } else { m.name };
            json!({"code": m.code, "name": label, "value": m.cases})
        })
        .collect();
    let overdue = s
        .store
        .cases(
            scope,
            &CaseFilter {
                overdue: true,
                limit: 50,
                ..Default::default()
            },
        )
        .await?;
    render(Dashboard {
        c: ctx.chrome(ctx.l.t("统计与地图", "Dashboard")),
        period,
        rows,
        total,
        trend,
        mix: serde_json::Value::from(mix).to_string(),
        overdue,
        tiles: super::tile_url(),
    })
}
