//! The overview page: what the district holds, Chinese first with an
//! English switch. It shows counts and names of units, never personal data.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Html;
use linli_core::org::OrgKind;
use linli_store::Scope;

use crate::{AppError, AppState};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

struct Words {
    lang: &'static str,
    title: &'static str,
    switch: &'static str,
    switch_href: &'static str,
    grids: &'static str,
    compounds: &'static str,
    dwellings: &'static str,
    households: &'static str,
    people: &'static str,
    unit: &'static str,
    level: &'static str,
    api: &'static str,
}

const ZH: Words = Words {
    lang: "zh-CN",
    title: "邻里 · 社区治理平台",
    switch: "English",
    switch_href: "/?lang=en",
    grids: "网格",
    compounds: "小区/院落",
    dwellings: "房屋",
    households: "户",
    people: "人口",
    unit: "单位",
    level: "层级",
    api: "接口（需令牌）",
};

const EN: Words = Words {
    lang: "en",
    title: "linli · community governance",
    switch: "中文",
    switch_href: "/",
    grids: "Grids",
    compounds: "Compounds",
    dwellings: "Dwellings",
    households: "Households",
    people: "People",
    unit: "Unit",
    level: "Level",
    api: "API (token required)",
};

pub async fn overview(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Html<String>, AppError> {
    let w = if q.get("lang").map(String::as_str) == Some("en") {
        &EN
    } else {
        &ZH
    };
    let all = Scope::Everything;
    let total = s.store.scope_stats(&all).await?;
    let mut rows = String::new();
    let units = s.store.org_units(&all, None).await?;
    for u in units.iter().filter(|u| {
        matches!(
            u.kind(),
            Some(OrgKind::City | OrgKind::District | OrgKind::Subdistrict)
        )
    }) {
        let st = s.store.scope_stats(&u.scope()?).await?;
        let depth = u.path.matches('/').count().saturating_sub(2);
        let level = u
            .kind()
            .map(|k| {
                if w.lang == "en" {
                    k.code()
                } else {
                    k.label_zh()
                }
            })
            .unwrap_or("");
        rows.push_str(&format!(
            "<tr><td style=\"padding-left:{}em\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            depth * 2,
            escape(&u.name),
            level,
            st.grids,
            st.compounds,
            st.households,
            st.people
        ));
    }
    let page = format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:1.5em;color:#222}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:right}}
td:first-child,th:first-child{{text-align:left}}.cards{{display:flex;gap:1em;flex-wrap:wrap;margin:1em 0}}
.card{{border:1px solid #ccc;border-radius:6px;padding:.6em 1em}}.card b{{display:block;font-size:1.6em}}
</style></head><body>
<p style="float:right"><a href="{switch_href}">{switch}</a></p>
<h1>{title}</h1>
<div class="cards">
<div class="card"><b>{g}</b>{grids}</div><div class="card"><b>{c}</b>{compounds}</div>
<div class="card"><b>{d}</b>{dwellings}</div><div class="card"><b>{h}</b>{households}</div>
<div class="card"><b>{p}</b>{people}</div></div>
<table><tr><th>{unit}</th><th>{level}</th><th>{grids}</th><th>{compounds}</th><th>{households}</th><th>{people}</th></tr>
{rows}</table>
<h2>{api}</h2>
<ul><li><code>/api/v1/stats</code></li><li><code>/api/v1/org?kind=grid</code></li><li><code>/api/v1/grids.geojson</code></li>
<li><code>/api/v1/locate?lon=104.0&amp;lat=30.6</code></li><li><code>/api/v1/people?tag=elderly_alone</code></li>
<li><code>/api/v1/export/registry.xlsx</code></li></ul>
</body></html>"#,
        lang = w.lang,
        title = w.title,
        switch = w.switch,
        switch_href = w.switch_href,
        grids = w.grids,
        compounds = w.compounds,
        dwellings = w.dwellings,
        households = w.households,
        people = w.people,
        unit = w.unit,
        level = w.level,
        api = w.api,
        g = total.grids,
        c = total.compounds,
        d = total.dwellings,
        h = total.households,
        p = total.people,
    );
    Ok(Html(page))
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_hostile_text() {
        assert_eq!(
            super::escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
