//! Which permission each API operation needs. Checked by one layer in
//! front of every `/api/v1` route, before the handler runs, so a handler
//! cannot forget it; the caller's data scope then narrows what the store
//! returns. An operation without a rule here is refused.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use linli_core::access::{Permission, allows};

use crate::{AppError, AppState, Caller};

/// What an operation asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, signed in or not (sign-in itself, the API description).
    Public,
    /// Any signed-in caller (their own account, the category list).
    SignedIn,
    /// A caller whose role holds the permission.
    Needs(Permission),
}

/// The rule of an operation, by method and route pattern under /api/v1.
pub fn rule(method: &Method, path: &str) -> Option<Rule> {
    use Permission::*;
    use Rule::*;
    let get = *method == Method::GET || *method == Method::HEAD;
    let post = *method == Method::POST;
    let put = *method == Method::PUT;
    Some(match path {
        "/openapi.json" if get => Public,
        "/login" if post => Public,
        "/logout" | "/password" if post => SignedIn,
        "/me" if get => SignedIn,
        "/categories" | "/calendar" if get => SignedIn,
        "/stats" | "/org" | "/org/{id}" | "/org/{id}/children" | "/grids.geojson" | "/locate"
        | "/posts"
            if get =>
        {
            Needs(ReadOrg)
        }
        "/units" if get => Needs(ReadCases),
        "/posts" | "/staff" if post => Needs(WriteRegistry),
        "/people" | "/people/{id}" | "/compounds" if get => Needs(ReadRegistry),
        "/people/{id}/unmask" if post => Needs(Unmask),
        "/import/registry" | "/import/compounds" | "/import/grids" if post => Needs(WriteRegistry),
        "/import/hotline" if post => Needs(ImportCases),
        "/export/{what}" if get => Needs(Export),
        "/audit" | "/audit/verify" if get => Needs(ReadAudit),
        "/cases"
        | "/cases/{id}"
        | "/cases/{id}/timeline"
        | "/cases/{id}/photos"
        | "/photos/{id}"
            if get =>
        {
            Needs(ReadCases)
        }
        "/cases" if post => Needs(RegisterCase),
        "/cases/{id}/actions" if post => Needs(ActOnCase),
        "/cases/{id}/photos" if post => Needs(AddPhoto),
        "/rates" | "/alerts" if get => Needs(ReadRates),
        "/categories" if put => Needs(ManageSettings),
        "/units" | "/dispatch-rules" | "/calendar" if post => Needs(ManageSettings),
        "/accounts" if post => Needs(ManageAccounts),
        _ => return None,
    })
}

/// The layer: finds the caller once (handlers reuse it), then refuses
/// what the caller's role may not do with 403.
pub async fn authorize(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let Some(matched) = req.extensions().get::<MatchedPath>().cloned() else {
        return Ok(next.run(req).await);
    };
    let path = matched
        .as_str()
        .strip_prefix("/api/v1")
        .unwrap_or(matched.as_str());
    let rule = rule(req.method(), path).ok_or_else(|| {
        AppError::Forbidden(format!("{} {path} has no permission rule", req.method()))
    })?;
    if rule == Rule::Public {
        return Ok(next.run(req).await);
    }
    let (mut parts, body) = req.into_parts();
    let caller = Caller::from_request_parts(&mut parts, &state).await?;
    if let Rule::Needs(p) = rule
        && !allows(caller.role, p)
    {
        return Err(AppError::Forbidden(format!(
            "a {} ({}) may not do this ({p:?})",
            caller.role.label_zh(),
            caller.role.code()
        )));
    }
    parts.extensions.insert(caller);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_operation_has_a_rule() {
        let doc: serde_json::Value =
            serde_json::from_str(crate::api::OPENAPI).expect("openapi.json parses");
        let paths = doc["paths"].as_object().expect("paths");
        for (path, ops) in paths {
            for method in ops.as_object().expect("operations").keys() {
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                // The document names the export parameter {file}; the route {what}.
                let route = path.replace("{file}", "{what}");
                assert!(rule(&m, &route).is_some(), "{method} {path} has no rule");
            }
        }
        assert_eq!(rule(&Method::DELETE, "/cases"), None);
        assert_eq!(rule(&Method::GET, "/nowhere"), None);
    }
}
