//! Which permission each API operation needs. Checked by one layer in
//! front of every `/api/v1` route, before the handler runs, so a handler
//! cannot forget it; the caller's data scope then narrows what the store
//! returns. An operation without a rule here is refused.

use std::sync::Arc;

use aide::axum::ApiRouter;
use aide::openapi::OpenApi;
use aide::operation::{OperationHandler, OperationInput, OperationOutput};
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

/// One operation of the API or of the pages: a method, a route pattern
/// (under /api/v1 for the API) and the rule its caller must pass; the API's
/// operations also carry their summary and tag for the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub method: Method,
    pub path: &'static str,
    pub rule: Rule,
    pub summary: &'static str,
    pub tag: &'static str,
}

/// The API's routes, each declared together with its rule: a route cannot
/// be added without one. [`authorize`] reads the rules from here, and
/// [`crate::doc`] makes the OpenAPI document from the handlers' types.
///
/// ```ignore
/// Api::new("cases")
///     .get("/cases/{id}", Needs(ReadCases), one)
///     .about("One case with the actions allowed now")
/// ```
pub struct Api {
    router: ApiRouter<AppState>,
    operations: Vec<Operation>,
    tag: &'static str,
}

impl Api {
    /// The operations of one capability, grouped under `tag` in the document.
    pub fn new(tag: &'static str) -> Api {
        Api {
            router: ApiRouter::new(),
            operations: Vec::new(),
            tag,
        }
    }

    fn declare(&mut self, method: Method, path: &'static str, rule: Rule) {
        self.operations.push(Operation {
            method,
            path,
            rule,
            summary: "",
            tag: self.tag,
        });
    }

    pub fn get<H, T, I, O>(mut self, path: &'static str, rule: Rule, h: H) -> Api
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        self.router = self.router.api_route(path, aide::axum::routing::get(h));
        self.declare(Method::GET, path, rule);
        self
    }

    pub fn post<H, T, I, O>(mut self, path: &'static str, rule: Rule, h: H) -> Api
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        self.router = self.router.api_route(path, aide::axum::routing::post(h));
        self.declare(Method::POST, path, rule);
        self
    }

    pub fn put<H, T, I, O>(mut self, path: &'static str, rule: Rule, h: H) -> Api
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        self.router = self.router.api_route(path, aide::axum::routing::put(h));
        self.declare(Method::PUT, path, rule);
        self
    }

    /// A GET that the document leaves out (the document itself).
    pub fn undocumented_get<H: Handler<T, AppState>, T: 'static>(
        mut self,
        path: &'static str,
        rule: Rule,
        h: H,
    ) -> Api {
        self.router = self.router.route(path, routing::get(h));
        self.declare(Method::GET, path, rule);
        self
    }

    /// The summary of the operation declared last: one line saying what
    /// it does, shown in the document.
    pub fn about(mut self, summary: &'static str) -> Api {
        if let Some(o) = self.operations.last_mut() {
            o.summary = summary;
        }
        self
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
        let router = self.router.finish_api(&mut OpenApi::default());
        let rules = Rules {
            state,
            rules: Arc::new(self.operations),
        };
        router.route_layer(axum::middleware::from_fn_with_state(rules, authorize))
    }

    /// aide's document and the declared operations, for [`crate::doc`].
    pub(crate) fn into_document(self) -> (OpenApi, Vec<Operation>) {
        let mut api = OpenApi::default();
        let _ = self.router.finish_api(&mut api);
        (api, self.operations)
    }
}

/// The pages' routes, each declared with its rule like the API's (they
/// are not in the API document).
#[derive(Default)]
pub struct Pages {
    router: Router<AppState>,
    operations: Vec<Operation>,
}

impl Pages {
    pub fn new() -> Pages {
        Pages::default()
    }

    fn op<H, T>(mut self, method: Method, path: &'static str, rule: Rule, handler: H) -> Pages
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let route = match method.as_str() {
            "POST" => routing::post(handler),
            _ => routing::get(handler),
        };
        self.router = self.router.route(path, route);
        self.operations.push(Operation {
            method,
            path,
            rule,
            summary: "",
            tag: "pages",
        });
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        rule: Rule,
        h: H,
    ) -> Pages {
        self.op(Method::GET, path, rule, h)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        rule: Rule,
        h: H,
    ) -> Pages {
        self.op(Method::POST, path, rule, h)
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The routes and their rule table, for the pages' gate.
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
    use serde_json::Value;

    /// Every route is in the generated document (but the document itself)
    /// with a summary, and no operation is declared twice.
    #[test]
    fn every_operation_is_documented_once() {
        let doc: Value = serde_json::from_str(crate::doc::document()).expect("document parses");
        let api = crate::api::api();
        let mut seen = std::collections::HashSet::new();
        for o in api.operations() {
            assert!(
                seen.insert((o.method.clone(), o.path)),
                "{} {} declared twice",
                o.method,
                o.path
            );
            if o.path == "/openapi.json" {
                continue;
            }
            let op = &doc["paths"][o.path][o.method.as_str().to_lowercase()];
            assert!(
                op.is_object(),
                "{} {} is not in the document",
                o.method,
                o.path
            );
            assert!(
                !o.summary.is_empty(),
                "{} {} has no summary",
                o.method,
                o.path
            );
            assert_eq!(op["summary"], o.summary);
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(
                    p["in"] != "path"
                        || o.path
                            .contains(&format!("{{{}}}", p["name"].as_str().unwrap_or("?"))),
                    "{} {}: path parameter {} is not in the route",
                    o.method,
                    o.path,
                    p["name"]
                );
            }
        }
        let documented: usize = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|ops| ops.as_object().map_or(0, |m| m.len()))
            .sum();
        assert_eq!(documented, api.operations().len() - 1);
    }
}
