//! Registry pages: a grid member's grid (households, masked, with the
//! tags that say whom to look after first, and the tasks of the grid), the
//! registry browser with search, import with its per-row report, export.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::response::{IntoResponse, Response};
use linli_core::case::State as CaseState;
use linli_core::ledger::LedgerKind;
use linli_core::registry::Tag;
use linli_store::cases::{CaseFilter, CaseView};
use linli_store::import::{
    ImportOptions, ImportReport, REGISTRY_COLUMNS, TableFormat, UploadChoices, parse_ledger,
};
use linli_store::registry::{PeopleFilter, PersonFull, PersonView};

use super::cases::{Posted, beijing, state_label};
use super::form::FormState;
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

async fn people_filter(
    s: &AppState,
    q: &HashMap<String, String>,
) -> Result<PeopleFilter, PageError> {
    let (tag, district_tag) = crate::api::tag_param(s, q).await?;
    Ok(PeopleFilter {
        grid_id: crate::api::param(q, "grid_id")?,
        tag,
        district_tag,
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

/// The tags to filter by: the built-in ones, then the district's own.
async fn tag_options(s: &AppState, l: Lang) -> Result<Vec<(String, String)>, PageError> {
    let mut out: Vec<(String, String)> = Tag::ALL
        .iter()
        .map(|t| {
            (
                t.code().to_string(),
                l.t(t.label_zh(), t.code()).to_string(),
            )
        })
        .collect();
    out.extend(
        s.store
            .district_tags()
            .await?
            .into_iter()
            .map(|t| (t.clone(), t)),
    );
    Ok(out)
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
    let people = s.store.people(scope, &people_filter(&s, &q).await?).await?;
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
        tags: tag_options(&s, ctx.l).await?,
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
    /// The token that confirms a previewed upload.
    confirm: Option<String>,
    /// Grids a file may be imported into: (code, name).
    grid_codes: Vec<(String, String)>,
    /// Saved column mappings (导入模板), by name.
    templates: Vec<String>,
    pager: Pager,
    may_lookup: bool,
    /// What a look-up by ID number or phone found, or why it was not made.
    lookup_note: Option<String>,
}

/// How many changes the preview lists one by one.
const CHANGES_SHOWN: usize = 2000;

/// A registry field's name on screen.
fn field_label(l: Lang, key: &str) -> String {
    match REGISTRY_COLUMNS.iter().find(|c| c.key == key) {
        Some(c) if !l.en => c.zh.to_string(),
        _ => key.replace('_', " "),
    }
}

/// What an import counts, in words.
fn count_label(l: Lang, key: &str) -> &'static str {
    match key {
        "people" => l.t("人", "people"),
        "households" => l.t("户", "households"),
        "dwellings" => l.t("套房屋", "dwellings"),
        "buildings" => l.t("栋楼", "buildings"),
        "compounds" => l.t("个小区", "compounds"),
        "grids" => l.t("个网格", "grids"),
        "org_units" => l.t("个组织", "org units"),
        _ => l.t("项", "records"),
    }
}

/// Changes of one kind, counted, with the first rows as examples.
pub struct ChangeGroup {
    pub field: String,
    pub why: String,
    pub count: usize,
    pub examples: String,
}

impl RegistryPage {
    /// The export of what the page lists (its grid, tag and name filters).
    fn export_href(&self, ext: &str) -> String {
        let kept: HashMap<String, String> = self
            .q
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "grid_id" | "tag" | "name"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        super::query_href(&format!("/api/v1/export/registry.{ext}"), &kept)
    }
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
        let order = [
            "compounds",
            "buildings",
            "dwellings",
            "households",
            "people",
        ];
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by_key(|(k, _)| order.iter().position(|o| o == *k).unwrap_or(order.len()));
        let shown: Vec<String> = v
            .iter()
            .map(|(k, n)| format!("{n} {}", count_label(self.c.l, k)))
            .collect();
        if shown.is_empty() {
            self.c.l.t("无", "none").to_string()
        } else {
            shown.join(self.c.l.t("、", ", "))
        }
    }
    fn field(&self, key: &str) -> String {
        field_label(self.c.l, key)
    }
    /// The fields a column can be imported as: (key, label).
    fn field_options(&self) -> Vec<(&'static str, String)> {
        REGISTRY_COLUMNS
            .iter()
            .map(|c| (c.key, field_label(self.c.l, c.key)))
            .collect()
    }
    /// Each field an update changes, labelled: (row, name, field, from, to),
    /// the first [`CHANGES_SHOWN`].
    fn update_rows(&self, r: &ImportReport) -> Vec<(usize, String, String, String, String)> {
        let l = self.c.l;
        let value = |field: &str, v: &str| -> String {
            match field {
                "gender" => gender_label(l, Some(v)).to_string(),
                "relation" => relation_label(l, v),
                "tags" => tag_labels(l, &v.replace('、', ",")),
                _ => v.to_string(),
            }
        };
        r.updates
            .iter()
            .flat_map(|u| u.fields.iter().map(move |f| (u, f)))
            .take(CHANGES_SHOWN)
            .map(|(u, f)| {
                let (field, from, to) = match f.field {
                    "household" => (
                        l.t("户/房屋", "Household").to_string(),
                        l.t("其他户或房屋", "another household or flat").to_string(),
                        l.t("本行所列户", "this row's household").to_string(),
                    ),
                    key => (self.field(key), value(key, &f.from), value(key, &f.to)),
                };
                let blank = |v: String| if v.is_empty() { "—".to_string() } else { v };
                (u.row, u.name.clone(), field, blank(from), blank(to))
            })
            .collect()
    }
    /// Every change, row by row, for the list under the summary (the
    /// first [`CHANGES_SHOWN`]; the CLI's `--changes` and the API have all).
    fn change_rows<'a>(
        &self,
        r: &'a ImportReport,
    ) -> Vec<(usize, String, &'a str, &'a str, &'a str)> {
        r.changes
            .iter()
            .take(CHANGES_SHOWN)
            .map(|c| {
                (
                    c.row,
                    self.field(c.field),
                    c.from.as_str(),
                    c.to.as_str(),
                    self.c.l.t(c.why_zh, c.why),
                )
            })
            .collect()
    }
    fn problem<'a>(&self, e: &'a linli_store::import::RowError) -> &'a str {
        e.text(!self.c.l.en)
    }
    fn change_groups(&self, r: &ImportReport) -> Vec<ChangeGroup> {
        let mut groups: Vec<ChangeGroup> = Vec::new();
        for ch in &r.changes {
            let why = self.c.l.t(ch.why_zh, ch.why).to_string();
            let field = self.field(ch.field);
            let example = if self.c.l.en {
                format!("row {}: {} → {}", ch.row, ch.from, ch.to)
            } else {
                format!("第 {} 行：{} → {}", ch.row, ch.from, ch.to)
            };
            match groups.iter_mut().find(|g| g.field == field && g.why == why) {
                Some(g) => {
                    g.count += 1;
                    if g.count <= 3 {
                        g.examples.push('；');
                        g.examples.push_str(&example);
                    }
                }
                None => groups.push(ChangeGroup {
                    field,
                    why,
                    count: 1,
                    examples: example,
                }),
            }
        }
        groups
    }
}

/// A counter look-up asked of the registry page.
enum Lookup {
    None,
    /// A number sent by the look-up form.
    Posted(String),
    /// A number put in the address, which is not looked up.
    InAddress,
}

async fn registry_page(
    s: &AppState,
    ctx: &PageCtx,
    q: HashMap<String, String>,
    report: Option<ImportReport>,
    confirm: Option<String>,
    lookup: Lookup,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    // The counter's look-up: a person by ID number or mobile number (for
    // those who may see personal data in full; audited, held to the
    // look-up allowance).
    let mut lookup_note = None;
    let people = match &lookup {
        Lookup::InAddress => {
            lookup_note = Some(
                ctx.l
                    .t(
                        "为保护个人信息，号码不放在网址中：请在上面的“窗口查询”中输入身份证号或手机号",
                        "Numbers are not taken from the address (it stays in histories and logs): type it into the counter look-up above",
                    )
                    .to_string(),
            );
            Vec::new()
        }
        Lookup::Posted(x) if v.may(linli_core::access::Permission::Unmask) => {
            crate::api::admit_lookup(s, &v.caller)?;
            let digits = x.chars().filter(|c| !c.is_whitespace()).count();
            let found = if digits == 15 || digits == 18 {
                s.store
                    .find_by_id_number(&v.caller.scope, x, &v.caller.actor)
                    .await?
            } else {
                s.store
                    .find_by_phone(&v.caller.scope, x, &v.caller.actor)
                    .await?
            };
            lookup_note = Some(format!(
                "{}{}{}",
                ctx.l
                    .t("按身份证号或电话查到 ", "Found by ID number or phone: "),
                found.len(),
                ctx.l.t(
                    " 人（本次查询已记入审计日志）",
                    " (this look-up is in the audit log)"
                )
            ));
            found
        }
        Lookup::Posted(_) => {
            lookup_note = Some(
                ctx.l
                    .t(
                        "按身份证号或电话查人须有查看完整个人信息的权限，请联系社区书记",
                        "Looking people up by ID number or phone needs the right to view personal data in full",
                    )
                    .to_string(),
            );
            Vec::new()
        }
        Lookup::None => {
            s.store
                .people(&v.caller.scope, &people_filter(s, &q).await?)
                .await?
        }
    };
    let units: Vec<_> = s
        .store
        .org_units(&v.caller.scope, Some(linli_core::org::OrgKind::Grid))
        .await?
        .into_iter()
        .take(500)
        .collect();
    let grid_codes = units
        .iter()
        .map(|g| (g.code.clone(), format!("{} {}", g.name, g.code)))
        .collect();
    let grids = units.into_iter().map(|g| (g.id, g.name)).collect();
    let pager = Pager::new(
        "/registry",
        &q,
        "after",
        people.last().map(|p| p.id),
        people.len(),
    );
    render(RegistryPage {
        c: ctx.chrome(ctx.l.t("人口台账", "Registry")),
        may_lookup: v.may(linli_core::access::Permission::Unmask),
        lookup_note,
        pager,
        people,
        q,
        tags: tag_options(s, ctx.l).await?,
        grids,
        may_import: v.may(linli_core::access::Permission::WriteRegistry),
        may_export: v.may(linli_core::access::Permission::Export),
        report,
        confirm,
        grid_codes,
        templates: if v.may(linli_core::access::Permission::WriteRegistry) {
            s.store.import_templates().await?.into_keys().collect()
        } else {
            Vec::new()
        },
    })
}

pub async fn browse(
    State(s): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    // A number in the address is not looked up (it would stay in
    // histories and logs); the page says where to type it.
    let mut q = q;
    let mut in_address = false;
    for k in ["lookup", "id_number", "phone"] {
        in_address |= q.remove(k).is_some_and(|x| !x.trim().is_empty());
    }
    let lookup = if in_address {
        Lookup::InAddress
    } else {
        Lookup::None
    };
    registry_page(&s, &ctx, q, None, None, lookup).await
}

/// The counter's look-up, sent by POST so that the number stays out of
/// addresses, browser history and access logs.
pub async fn lookup(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    let number = f
        .get("lookup")
        .map(|x| x.trim().to_string())
        .unwrap_or_default();
    let lookup = if number.is_empty() {
        Lookup::None
    } else {
        Lookup::Posted(number)
    };
    registry_page(&s, &ctx, HashMap::new(), None, None, lookup).await
}

/// An uploaded ledger (CSV, Excel): previewed first. Everything is
/// checked and counted inside a transaction that is rolled back; the page
/// shows the column mapping, what is not imported, every problem and every
/// value changed. A file without problems is kept (sealed) for its
/// uploader, and a confirmation imports exactly that file.
pub async fn import(
    State(s): State<AppState>,
    ctx: PageCtx,
    form: Multipart,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let f = Posted::read(form).await?;
    v.check_csrf(f.get("_csrf"))?;
    let bytes = f.photo.clone().ok_or_else(|| {
        AppError::invalid(
            "file",
            "no file content arrived: choose an Excel or CSV file (it must not be empty)",
            "没有收到文件内容：请选择一个 Excel 或 CSV 文件（文件不能为空）",
        )
    })?;
    // A saved template's column choices, when one is picked.
    let mapping = match f.get("template").map(str::trim).filter(|t| !t.is_empty()) {
        Some(name) => s
            .store
            .import_templates()
            .await?
            .remove(name)
            .ok_or_else(|| {
                AppError::invalid("template", "no such import template", "没有这个导入模板")
            })?,
        None => Default::default(),
    };
    let choices = UploadChoices {
        grid: f.get("grid").map(str::to_string),
        sheet: f.get("sheet").map(str::to_string),
        mapping,
    };
    let report = preview_or_import(&s, &v.caller, &bytes, &choices, true).await?;
    let confirm = keep_for_confirmation(&s, &v.caller.actor, &report, &choices, &bytes).await?;
    registry_page(
        &s,
        &ctx,
        HashMap::new(),
        Some(report),
        confirm,
        Lookup::None,
    )
    .await
}

/// The confirmation of a previewed upload: the same file, imported.
pub async fn confirm_import(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    let token = f.get("token").map(String::as_str).unwrap_or("");
    let kept = s.store.kept_upload(&v.caller.actor, token).await?;
    let report = preview_or_import(&s, &v.caller, &kept.body, &kept.choices, false).await?;
    if report.committed {
        s.store.drop_upload(token).await?;
    }
    registry_page(&s, &ctx, HashMap::new(), Some(report), None, Lookup::None).await
}

/// The preview again, with the columns mapped as the worker chose
/// (`map:<header>` fields), optionally saved as a named template.
pub async fn remap_import(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    let token = f.get("token").map(String::as_str).unwrap_or("");
    let kept = s.store.kept_upload(&v.caller.actor, token).await?;
    let mapping: std::collections::BTreeMap<String, String> = f
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("map:")?.to_string(), v.clone())))
        .collect();
    let choices = UploadChoices {
        mapping,
        ..kept.choices
    };
    if let Some(name) = f
        .get("template_name")
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
    {
        s.store
            .save_import_template(&v.caller.actor, name, &choices.mapping)
            .await?;
    }
    let report = preview_or_import(&s, &v.caller, &kept.body, &choices, true).await?;
    s.store.drop_upload(token).await?;
    let confirm = keep_for_confirmation(&s, &v.caller.actor, &report, &choices, &kept.body).await?;
    registry_page(
        &s,
        &ctx,
        HashMap::new(),
        Some(report),
        confirm,
        Lookup::None,
    )
    .await
}

/// Keeps a previewed upload for its confirmation; nothing to confirm with
/// errors, or without rows.
async fn keep_for_confirmation(
    s: &AppState,
    actor: &str,
    report: &ImportReport,
    choices: &UploadChoices,
    bytes: &[u8],
) -> Result<Option<String>, PageError> {
    if !report.errors.is_empty() || report.rows == 0 {
        return Ok(None);
    }
    Ok(Some(
        s.store
            .keep_upload(actor, "registry", choices, bytes)
            .await?,
    ))
}

async fn preview_or_import(
    s: &AppState,
    caller: &crate::Caller,
    bytes: &[u8],
    choices: &UploadChoices,
    dry_run: bool,
) -> Result<ImportReport, PageError> {
    let format = TableFormat::sniff(bytes);
    let mut table = parse_ledger(
        bytes.to_vec(),
        format,
        LedgerKind::Registry,
        choices.sheet.clone(),
    )
    .await?;
    if !choices.mapping.is_empty() {
        table.remap(&choices.mapping, REGISTRY_COLUMNS)?;
    }
    let options = ImportOptions {
        dry_run,
        grid: choices.grid.clone(),
    };
    crate::throttle::admit_registry_import(s, caller, dry_run, &table)?;
    Ok(s.store
        .import_registry_with(&caller.scope, &caller.actor, &table, &options, &|_, _| {})
        .await?)
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
    /// The people of the same dwelling (their households), this one too.
    dwelling: Vec<PersonView>,
    /// The cases the person reported from their mobile number.
    cases: Vec<linli_store::cases::CaseView>,
    /// Whether the viewer may edit the record, and the tags to choose
    /// from: (value, label, chosen).
    may_edit: bool,
    tag_choices: Vec<(String, String, bool)>,
    /// The edit form, refused, with its values and message.
    refused: Option<FormState>,
    saved: bool,
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
    fn gender_of(&self, p: &PersonView) -> &'static str {
        gender_label(self.c.l, p.gender.as_deref())
    }
    fn state(&self, code: &str) -> String {
        super::cases::state_label(self.c.l, code)
    }
    /// The value the edit form shows for `name`: as sent when refused,
    /// as stored otherwise.
    fn edit_val(&self, name: &str) -> String {
        if let Some(f) = &self.refused {
            return f.val(name).to_string();
        }
        match name {
            "relation" => self.p.relation.clone(),
            "head_relation" => self.p.head_relation.clone().unwrap_or_default(),
            _ => String::new(),
        }
    }
    fn relations(&self) -> Vec<(&'static str, &'static str)> {
        linli_core::registry::Relation::ALL
            .iter()
            .map(|r| (r.code(), self.c.l.t(r.label_zh(), r.code())))
            .collect()
    }
}

/// What the person page shows besides the person.
struct PersonExtras {
    full: Option<PersonFull>,
    refused: Option<FormState>,
    saved: bool,
}

async fn person_page(
    s: &AppState,
    ctx: &PageCtx,
    p: PersonView,
    extras: PersonExtras,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let had = p.tag_list();
    let had: Vec<&str> = had.iter().map(String::as_str).collect();
    // Chosen as sent when refused, as stored otherwise.
    let sent: Option<Vec<&str>> = extras
        .refused
        .as_ref()
        .map(|f| f.val("tags").split(',').filter(|t| !t.is_empty()).collect());
    let chosen = |t: &str| sent.as_ref().map_or(had.contains(&t), |x| x.contains(&t));
    let mut tag_choices: Vec<(String, String, bool)> = Tag::ALL
        .iter()
        .map(|t| {
            (
                t.code().to_string(),
                ctx.l.t(t.label_zh(), t.code()).to_string(),
                chosen(t.code()),
            )
        })
        .collect();
    let mut district = s.store.district_tags().await?;
    for t in &had {
        if Tag::parse(t).is_err() && !district.iter().any(|d| d == t) {
            district.push(t.to_string());
        }
    }
    tag_choices.extend(district.into_iter().map(|t| {
        let on = chosen(&t);
        (t.clone(), t, on)
    }));
    let status = extras
        .refused
        .as_ref()
        .map(|_| axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    let mut r = render(PersonPage {
        c: ctx.chrome(&p.name),
        dwelling: s
            .store
            .dwelling_people(&v.caller.scope, p.dwelling_id)
            .await?,
        // Which cases a person reported undoes the mask of those cases'
        // reporter names (and is a look-up by phone): only for those who
        // may unmask.
        cases: if v.may(linli_core::access::Permission::Unmask) {
            s.store.person_cases(&v.caller.scope, p.id).await?
        } else {
            Vec::new()
        },
        may_unmask: v.may(linli_core::access::Permission::Unmask),
        may_edit: v.may(linli_core::access::Permission::WriteRegistry),
        tag_choices,
        full: extras.full,
        refused: extras.refused,
        saved: extras.saved,
        p,
    })?;
    if let Some(st) = status {
        *r.status_mut() = st;
    }
    Ok(r)
}

/// One person, masked; those who may unmask see a form that asks why,
/// those who keep the registry a form to edit the record.
pub async fn person(
    State(s): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let p = s.store.person(&v.caller.scope, id).await?;
    let saved = q.get("saved").is_some_and(|x| x == "1");
    person_page(
        &s,
        &ctx,
        p,
        PersonExtras {
            full: None,
            refused: None,
            saved,
        },
    )
    .await
}

/// Saves an edit of the record (phone, relations, tags): audited by the
/// store; refused, the page comes back with the values and the message.
pub async fn edit_person(
    State(s): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, x)| x.clone())
            .unwrap_or_default()
    };
    v.check_csrf(Some(get("_csrf").as_str()))?;
    let tags: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "tags")
        .map(|(_, t)| t.clone())
        .collect();
    let edit = linli_store::registry_edit::PersonEdit {
        phone: Some(get("phone")),
        clear_phone: get("clear_phone") == "1",
        relation: Some(get("relation")),
        head_relation: Some(get("head_relation")),
        tags: Some(tags.clone()),
    };
    match s
        .store
        .edit_person(&v.caller.scope, &v.caller.actor, id, &edit)
        .await
    {
        Ok(_) => Ok(axum::response::Redirect::to(&format!("/people/{id}?saved=1")).into_response()),
        Err(e) => {
            let e = AppError::from(e);
            // The new phone is not sent back into the page.
            let kept: HashMap<String, String> = [
                ("relation", get("relation")),
                ("head_relation", get("head_relation")),
                ("tags", tags.join(",")),
            ]
            .into_iter()
            .map(|(k, x)| (k.to_string(), x))
            .collect();
            match FormState::refused(kept, &e, ctx.l) {
                Some(state) => {
                    let p = s.store.person(&v.caller.scope, id).await?;
                    person_page(
                        &s,
                        &ctx,
                        p,
                        PersonExtras {
                            full: None,
                            refused: Some(state),
                            saved: false,
                        },
                    )
                    .await
                }
                None => Err(e.into()),
            }
        }
    }
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
    let p = full.person.clone();
    person_page(
        &s,
        &ctx,
        p,
        PersonExtras {
            full: Some(full),
            refused: None,
            saved: false,
        },
    )
    .await
}
