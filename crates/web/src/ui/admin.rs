//! Administration pages (管理): handling units, dispatch rules and
//! accounts, for the district's administrators. Each form comes back in
//! place, with its values, when it is refused.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use linli_core::access::{Permission, Role};
use linli_core::category::{Category, Taxonomy};
use linli_core::ids::{OrgId, UnitId};
use linli_store::accounts::{Account, NewAccount};
use linli_store::cases::{DispatchRuleView, HandlingUnit};
use linli_store::org::OrgUnit;

use super::form::{FormState, OneOfForms};
use super::{Chrome, PageCtx, PageError, render};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    c: Chrome,
    units: Vec<HandlingUnit>,
    rules: Vec<DispatchRuleView>,
    accounts: Vec<Account>,
    /// Places a unit or rule may belong to (not grids): (id, name).
    places: Vec<(i64, String)>,
    /// Unit kinds: (code, label).
    kinds: Vec<(String, String)>,
    categories: Vec<Category>,
    roles: Vec<(&'static str, &'static str)>,
    /// Org codes for accounts: (code, name).
    org_codes: Vec<(String, String)>,
    may_accounts: bool,
    /// The form that came back refused ("unit", "rule", "account").
    refused: OneOfForms,
    /// What was just made.
    done: Option<String>,
}

impl AdminPage {
    fn kind_label(&self, code: &str) -> String {
        self.kinds
            .iter()
            .find(|(k, _)| k == code)
            .map_or(code.to_string(), |(_, l)| l.clone())
    }
    fn role_label(&self, code: &str) -> String {
        Role::parse(code).map_or(code.to_string(), |r| {
            self.c.l.t(r.label_zh(), r.label_en()).to_string()
        })
    }
    fn place_of(&self, org_id: &i64) -> String {
        self.places
            .iter()
            .find(|(id, _)| id == org_id)
            .map_or(String::new(), |(_, n)| n.clone())
    }
}

async fn page(
    s: &AppState,
    ctx: &PageCtx,
    refused: Option<(&'static str, FormState)>,
    done: Option<String>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    let scope = &v.caller.scope;
    let orgs: Vec<OrgUnit> = s.store.org_units(scope, None).await?;
    let places = orgs
        .iter()
        .filter(|o| o.kind != "grid")
        .map(|o| (o.id, o.name.clone()))
        .collect();
    let org_codes = orgs
        .iter()
        .filter(|o| o.kind != "grid")
        .map(|o| (o.code.clone(), format!("{} {}", o.name, o.code)))
        .collect();
    let mut kinds: Vec<(String, String)> = Taxonomy::default_set()
        .map(|t| t.unit_kinds.into_iter().collect())
        .unwrap_or_default();
    let units = s.store.units(scope).await?;
    for u in &units {
        if !kinds.iter().any(|(k, _)| *k == u.kind) {
            kinds.push((u.kind.clone(), u.kind.clone()));
        }
    }
    let may_accounts = v.may(Permission::ManageAccounts);
    let refused = OneOfForms(refused);
    let status = refused
        .is_refused()
        .then_some(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    let mut r = render(AdminPage {
        c: ctx.chrome(ctx.l.t("管理", "Administration")),
        rules: s.store.dispatch_rules(scope).await?,
        accounts: if may_accounts {
            s.store.accounts(scope, 200).await?
        } else {
            Vec::new()
        },
        units,
        places,
        kinds,
        categories: s
            .store
            .categories()
            .await?
            .into_iter()
            .filter(|c| c.parent.is_some())
            .collect(),
        roles: Role::ALL
            .iter()
            .map(|r| (r.code(), ctx.l.t(r.label_zh(), r.label_en())))
            .collect(),
        org_codes,
        may_accounts,
        refused,
        done,
    })?;
    if let Some(st) = status {
        *r.status_mut() = st;
    }
    Ok(r)
}

pub async fn admin(
    State(s): State<AppState>,
    ctx: PageCtx,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    page(&s, &ctx, None, q.get("done").cloned()).await
}

/// A form's outcome: done, back to the page (post/redirect/get); refused,
/// the page with the form's values and the message.
async fn outcome(
    s: &AppState,
    ctx: &PageCtx,
    form: &'static str,
    f: HashMap<String, String>,
    r: Result<String, AppError>,
) -> Result<Response, PageError> {
    match r {
        Ok(done) => {
            Ok(Redirect::to(&format!("/admin?done={}", super::urlencode(&done))).into_response())
        }
        Err(e) => match FormState::refused(f, &e, ctx.l) {
            Some(state) => page(s, ctx, Some((form, state)), None).await,
            None => Err(e.into()),
        },
    }
}

fn number(f: &HashMap<String, String>, name: &str) -> Result<i64, AppError> {
    let v = f.get(name).map(|x| x.trim()).unwrap_or("");
    v.parse().map_err(|e: std::num::ParseIntError| {
        AppError::invalid(name, format!("choose one ('{v}': {e})"), "请选择")
    })
}

pub async fn create_unit(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    let made = async {
        let org = number(&f, "org_id")?;
        let get = |k: &str| f.get(k).map(|x| x.trim()).unwrap_or("");
        let webhook = Some(get("webhook_url")).filter(|w| !w.is_empty());
        let u = s
            .store
            .create_unit(&v.caller.scope, org, get("name"), get("kind"), webhook)
            .await?;
        Ok::<_, AppError>(u.name)
    }
    .await;
    outcome(&s, &ctx, "unit", f.clone(), made).await
}

pub async fn create_rule(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    let made = async {
        let (org, unit) = (number(&f, "org_id")?, number(&f, "unit_id")?);
        let category = f.get("category").map(|x| x.trim()).unwrap_or("");
        s.store
            .set_dispatch_rule(&v.caller.scope, category, OrgId(org), UnitId(unit))
            .await?;
        let categories = s.store.categories().await?;
        Ok::<_, AppError>(
            linli_core::category::path_label(&categories, category, ctx.l.en)
                .unwrap_or_else(|| category.to_string()),
        )
    }
    .await;
    outcome(&s, &ctx, "rule", f.clone(), made).await
}

pub async fn create_account(
    State(s): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let v = ctx.viewer()?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    crate::api::require_everything(&v.caller)?;
    let get = |k: &str| {
        f.get(k)
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
    };
    let made = async {
        let unit_id = match get("unit_id") {
            Some(_) => Some(number(&f, "unit_id")?),
            None => None,
        };
        let a = s
            .store
            .create_account(
                &v.caller.actor,
                &NewAccount {
                    username: get("username").unwrap_or_default(),
                    display_name: get("display_name").unwrap_or_default(),
                    role: get("role").unwrap_or_default(),
                    password: f.get("password").cloned().unwrap_or_default(),
                    org_code: get("org_code"),
                    unit_id,
                },
            )
            .await?;
        Ok::<_, AppError>(a.username)
    }
    .await;
    // The password is not sent back into the form.
    let mut kept = f.clone();
    kept.remove("password");
    outcome(&s, &ctx, "account", kept, made).await
}
