//! Which permission each API operation needs. Checked by one layer in
//! front of every `/api/v1` route, before the handler runs, so a handler
//! cannot forget it; the caller's data scope then narrows what the store
//! returns. An operation without a rule here is refused.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing;
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

/// One operation of the API: a method, a route pattern (under /api/v1)
/// and the rule its caller must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub method: Method,
    pub path: &'static str,
    pub rule: Rule,
}

/// The API's routes, each declared together with its rule: a route cannot
/// be added without one. [`authorize`] reads the rules from here.
#[derive(Default)]
pub struct Api {
    router: Router<AppState>,
    operations: Vec<Operation>,
}

impl Api {
    pub fn new() -> Api {
        Api::default()
    }

    fn op<H, T>(mut self, method: Method, path: &'static str, rule: Rule, handler: H) -> Api
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let route = match method.as_str() {
            "POST" => routing::post(handler),
            "PUT" => routing::put(handler),
            "DELETE" => routing::delete(handler),
            _ => routing::get(handler),
        };
        self.router = self.router.route(path, route);
        self.operations.push(Operation { method, path, rule });
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        rule: Rule,
        h: H,
    ) -> Api {
        self.op(Method::GET, path, rule, h)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        rule: Rule,
        h: H,
    ) -> Api {
        self.op(Method::POST, path, rule, h)
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        rule: Rule,
        h: H,
    ) -> Api {
        self.op(Method::PUT, path, rule, h)
    }

    /// Another capability's operations beside these.
    pub fn merge(mut self, other: Api) -> Api {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The router with the authorisation layer in front of every route.
    pub fn into_router(self, state: AppState) -> Router<AppState> {
        let (router, rules) = self.into_parts(state);
        router.route_layer(axum::middleware::from_fn_with_state(rules, authorize))
    }

    /// The routes and their rule table, for a layer of another kind (the
    /// pages' gate).
    pub fn into_parts(self, state: AppState) -> (Router<AppState>, Rules) {
        let rules = Rules {
            state,
            rules: Arc::new(self.operations),
        };
        (self.router, rules)
    }
}

/// What the authorisation layer needs: the app and the rule table.
#[derive(Clone)]
pub struct Rules {
    pub state: AppState,
    rules: Arc<Vec<Operation>>,
}

impl Rules {
    /// The rule of an operation, by method and route pattern.
    pub fn rule(&self, method: &Method, path: &str) -> Option<Rule> {
        // HEAD is answered by the GET route.
        let method = if *method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.rules
            .iter()
            .find(|o| o.method == *method && o.path == path)
            .map(|o| o.rule)
    }
}

/// The layer: finds the caller once (handlers reuse it), then refuses
/// what the caller's role may not do with 403.
pub async fn authorize(
    State(rules): State<Rules>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let state = &rules.state;
    let Some(matched) = req.extensions().get::<MatchedPath>().cloned() else {
        return Ok(next.run(req).await);
    };
    let path = matched
        .as_str()
        .strip_prefix("/api/v1")
        .unwrap_or(matched.as_str());
    let rule = rules.rule(req.method(), path).ok_or_else(|| {
        AppError::forbidden(
            format!("{} {path} has no permission rule", req.method()),
            "此操作没有设定权限规则",
        )
    })?;
    if rule == Rule::Public {
        return Ok(next.run(req).await);
    }
    let (mut parts, body) = req.into_parts();
    let caller = Caller::from_request_parts(&mut parts, state).await?;
    if let Rule::Needs(p) = rule
        && !allows(caller.role, p)
    {
        return Err(AppError::forbidden(
            format!("a {} may not do this ({p:?})", caller.role.code()),
            format!("{}无权进行此操作", caller.role.label_zh()),
        ));
    }
    parts.extensions.insert(caller);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

#[cfg(test)]
mod tests {

    #[test]
    fn documented_operations_and_routes_are_the_same() {
        let doc: serde_json::Value =
            serde_json::from_str(crate::api::OPENAPI).expect("openapi.json parses");
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .expect("operations")
                    .keys()
                    // The document names the export parameter {file}; the route {what}.
                    .map(move |m| (m.to_uppercase(), path.replace("{file}", "{what}")))
            })
            .collect();
        let mut routed: Vec<(String, String)> = crate::api::api()
            .operations()
            .iter()
            .map(|o| (o.method.to_string(), o.path.to_string()))
            .collect();
        // The document does not describe itself.
        routed.retain(|(_, p)| p != "/openapi.json");
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
        let before = routed.len();
        routed.dedup();
        assert_eq!(before, routed.len(), "an operation is declared twice");
    }
}
