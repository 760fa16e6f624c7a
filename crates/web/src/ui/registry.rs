//! Registry pages: a grid member's grid (households, masked, with the
//! tags that say whom to look after first, and the tasks of the grid), the
//! registry browser with search, import with its per-row report, export.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::response::Response;
use linli_core::case::State as CaseState;
use linli_core::registry::Tag;
use linli_store::cases::{CaseFilter, CaseView};
use linli_store::import::{ImportReport, TableFormat, parse_table};
use linli_store::registry::{PeopleFilter, PersonFull, PersonView};

use super::cases::{Posted, beijing, state_label};
use super::{Chrome, Lang, PageCtx, PageError, Pager, render};
use crate::{AppError, AppState};

fn tag_labels(l: Lang, tags: &str) -> String {
    tags.split([',', ';', ' '])
        .filter(|t| !t.is_empty())
        .map(|t| match Tag::parse(t) {
            Ok(tag) => l.t(tag.label_zh(), tag.code()).to_string(),
            Err(_) => t.to_string(),
        })
        .collect::<Vec<_>>()
        .join("、")
}

fn relation_label(l: Lang, code: &str) -> String {
    match linli_core::registry::Relation::parse(code) {
        Ok(r) => l.t(r.label_zh(), r.code()).to_string(),
        Err(_) => code.to_string(),
    }
}

fn gender_label(l: Lang, code: Option<&str>) -> &'static str {
    match code {
        Some("male") => l.t("男", "male"),
        Some("female") => l.t("女", "female"),
        _ => "",
    }
}

fn people_filter(q: &HashMap<String, String>) -> Result<PeopleFilter, PageError> {
    Ok(PeopleFilter {
        grid_id: crate::api::param(q, "grid_id")?,
        tag: crate::api::tag_param(q)?,
        name_contains: q.get("name").filter(|n| !n.trim().is_empty()).cloned(),
        limit: super::PAGE_ROWS,
        offset: 0,
        after_id: crate::api::param(q, "after")?,
    })
}

#[derive(Template)]
#[template(path = "grid.html")]
struct GridPage {
    c: Chrome,
    people: Vec<PersonView>,
    to_verify: Vec<CaseView>,
    open: Vec<CaseView>,
    tags: Vec<(String, String)>,
    tag: String,
    pager: Pager,
}

impl GridPage {
    fn tags_of(&self, p: &PersonView) -> String {
        tag_labels(self.c.l, &p.tags)
    }
    fn relation_of(&self, p: &PersonView) -> String {
        relation_label(self.c.l, &p.relation)
    }
    fn state(&self, code: &str) -> String {
        state_label(self.c.l, code)
    }
    fn when(&self, ms: &i64) -> String {
        beijing(*ms)
    }
}

fn tag_options(l: Lang) -> Vec<(String, String)> {
    Tag::ALL
        .iter()
        .map(|t| {
            (
                t.code().to_string(),
                l.t(t.label_zh(), t.code()).to_string(),
            )
        })
        .collect()
}

/// A grid member's page: the people of their grid(s), masked, filterable
/// by tag; handled cases waiting for their check; the grid's open cases.
pub async fn my_grid(
    State(s): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let scope = &v.caller.scope;
    let people = s.store.people(scope, &people_filter(&q)?).await?;
    let to_verify = s
        .store
        .cases(
            scope,
            &CaseFilter {
                state: Some(CaseState::ReportedBack),
                limit: 100,
                ..Default::default()
            },
        )
        .await?;
    let open = s
        .store
        .cases(
            scope,
            &CaseFilter {
                open: Some(true),
                limit: 100,
                ..Default::default()
            },
        )
        .await?
        .into_iter()
        .filter(|c| c.row.state != "reported_back")
        .collect();
    let pager = Pager::new(
        "/grid",
        &q,
        "after",
        people.last().map(|p| p.id),
        people.len(),
    );
    render(GridPage {
        c: ctx.chrome(ctx.l.t("我的网格", "My grid")),
        pager,
        people,
        to_verify,
        open,
        tags: tag_options(ctx.l),
        tag: q.get("tag").cloned().unwrap_or_default(),
    })
}

#[derive(Template)]
#[template(path = "registry.html")]
struct RegistryPage {
    c: Chrome,
    people: Vec<PersonView>,
    q: HashMap<String, String>,
    tags: Vec<(String, String)>,
    grids: Vec<(i64, String)>,
    may_import: bool,
    may_export: bool,
    report: Option<ImportReport>,
    pager: Pager,
}

impl RegistryPage {
    fn tags_of(&self, p: &PersonView) -> String {
        tag_labels(self.c.l, &p.tags)
    }
    fn relation_of(&self, p: &PersonView) -> String {
        relation_label(self.c.l, &p.relation)
    }
    fn value(&self, name: &str) -> String {
        self.q.get(name).cloned().unwrap_or_default()
    }
    fn picked(&self, name: &str, value: &str) -> bool {
        self.q.get(name).map(String::as_str) == Some(value)
    }
    fn counts(&self, m: &HashMap<&'static str, u64>) -> String {
        let mut v: Vec<_> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
        v.sort();
        v.join(", ")
    }
}

async fn registry_page(
    s: &AppState,
    ctx: &PageCtx,
    q: HashMap<String, String>,
    report: Option<ImportReport>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let people = s.store.people(&v.caller.scope, &people_filter(&q)?).await?;
    let grids = s
        .store
        .org_units(&v.caller.scope, Some(linli_core::org::OrgKind::Grid))
        .await?
        .into_iter()
        .take(500)
        .map(|g| (g.id, g.name))
        .collect();
    let pager = Pager::new(
        "/registry",
        &q,
        "after",
        people.last().map(|p| p.id),
        people.len(),
    );
    render(RegistryPage {
        c: ctx.chrome(ctx.l.t("人口台账", "Registry")),
        pager,
        people,
        q,
        tags: tag_options(ctx.l),
        grids,
        may_import: v.may(linli_core::access::Permission::WriteRegistry),
        may_export: v.may(linli_core::access::Permission::Export),
        report,
    })
}

pub async fn browse(
    State(s): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    registry_page(&s, &ctx, q, None).await
}

/// An uploaded registry file (CSV or XLSX): all rows are checked first;
/// with any bad row nothing is written and the page lists each row's
/// problems.
pub async fn import(
    State(s): State<AppState>,
    ctx: PageCtx,
    form: Multipart,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let f = Posted::read(form).await?;
    v.check_csrf(f.get("_csrf"))?;
    let bytes = f.photo.ok_or_else(|| AppError::Invalid {
        field: "file".into(),
        message: "choose a CSV or Excel file".into(),
    })?;
    // An .xlsx file is a ZIP archive; anything else is read as CSV.
    let format = if bytes.starts_with(b"PK\x03\x04") {
        TableFormat::Xlsx
    } else {
        TableFormat::Csv
    };
    let table = parse_table(bytes, format).await?;
    let report = s
        .store
        .import_registry(&v.caller.scope, &v.caller.actor, &table, &|_, _| {})
        .await?;
    registry_page(&s, &ctx, HashMap::new(), Some(report)).await
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    c: Chrome,
    p: PersonView,
    /// The full ID number, phone and birth date, after a view with a
    /// reason (audited).
    full: Option<PersonFull>,
    may_unmask: bool,
}

impl PersonPage {
    fn gender(&self) -> &'static str {
        gender_label(self.c.l, self.p.gender.as_deref())
    }
    fn tags_of(&self, p: &PersonView) -> String {
        tag_labels(self.c.l, &p.tags)
    }
    fn relation_of(&self, p: &PersonView) -> String {
        relation_label(self.c.l, &p.relation)
    }
}

/// One person, masked; those who may unmask see a form that asks why.
pub async fn person(
    State(s): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let p = s.store.person(&v.caller.scope, id).await?;
    render(PersonPage {
        c: ctx.chrome(&p.name),
        p,
        full: None,
        may_unmask: v.may(linli_core::access::Permission::Unmask),
    })
}

/// The full ID number and phone, once a reason is given; the view is an
/// audit entry before anything is shown.
pub async fn unmask(
    State(s): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    let reason = f.get("reason").map(String::as_str).unwrap_or("");
    let full = s
        .store
        .person_unmasked(&v.caller.scope, id, &v.caller.actor, reason)
        .await?;
    render(PersonPage {
        c: ctx.chrome(&full.person.name),
        p: full.person.clone(),
        full: Some(full),
        may_unmask: true,
    })
}
