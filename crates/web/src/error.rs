//! One error type for every handler: a JSON body `{error, message, field?, rows?}`
//! with the right status; database details go to the log, never to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use linli_store::import::RowError;
use linli_store::{Msg, StoreError};
use serde_json::json;

/// A handler's refusal. Every message a person may read is a [`Msg`]
/// (English and Chinese), so that a page shows it in its own language;
/// only `NotFound` keeps an English detail, which pages replace by their
/// Chinese heading (the id it names is in the address anyway).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(Msg),
    #[error("{field}: {message}")]
    Invalid { field: String, message: Msg },
    #[error("the file has {} bad rows", .0.len())]
    Rows(Vec<RowError>),
    #[error("{0}")]
    Conflict(Msg),
    #[error("{0}")]
    BadRequest(Msg),
    #[error("{0}")]
    Forbidden(Msg),
    #[error("{message}")]
    TooManyRequests { message: Msg, retry_after_s: u64 },
    /// The database's disk is full: 507, and nothing was written.
    #[error("{}", storage_full().en)]
    StorageFull,
    #[error("internal error")]
    Internal(String),
}

fn storage_full() -> Msg {
    Msg::new(
        "the server's disk is full: nothing was saved; tell the administrator",
        "服务器磁盘已满，未保存，请联系管理员",
    )
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) | StoreError::OutOfScope(m) => AppError::NotFound(m),
            StoreError::Invalid { field, message } => AppError::Invalid { field, message },
            StoreError::Conflict(m) => AppError::Conflict(m),
            StoreError::File(m) => AppError::BadRequest(m),
            StoreError::Unauthorized(m) => AppError::Unauthorized(m),
            StoreError::Locked {
                message,
                retry_after_s,
            } => AppError::TooManyRequests {
                message,
                retry_after_s,
            },
            other if other.is_storage_full() => AppError::StorageFull,
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl AppError {
    pub fn invalid(field: &str, en: impl Into<String>, zh: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.to_string(),
            message: Msg::new(en, zh),
        }
    }

    pub fn invalid_msg(field: &str, message: Msg) -> Self {
        AppError::Invalid {
            field: field.to_string(),
            message,
        }
    }

    pub fn bad_request(en: impl Into<String>, zh: impl Into<String>) -> Self {
        AppError::BadRequest(Msg::new(en, zh))
    }

    pub fn forbidden(en: impl Into<String>, zh: impl Into<String>) -> Self {
        AppError::Forbidden(Msg::new(en, zh))
    }

    pub fn unauthorized(en: impl Into<String>, zh: impl Into<String>) -> Self {
        AppError::Unauthorized(Msg::new(en, zh))
    }

    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    /// What a person reads: the message in both languages. `None` for a
    /// missing page and an internal error, whose pages say it in their
    /// heading and keep details out.
    pub fn message(&self) -> Option<Msg> {
        match self {
            AppError::NotFound(_) | AppError::Internal(_) | AppError::Rows(_) => None,
            AppError::Unauthorized(m)
            | AppError::Conflict(m)
            | AppError::BadRequest(m)
            | AppError::Forbidden(m)
            | AppError::Invalid { message: m, .. }
            | AppError::TooManyRequests { message: m, .. } => Some(m.clone()),
            AppError::StorageFull => Some(storage_full()),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            AppError::Rows(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_rows"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "locked"),
            AppError::StorageFull => (StatusCode::INSUFFICIENT_STORAGE, "storage_full"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = match &self {
            AppError::Internal(detail) => {
                tracing::error!("internal error: {detail}");
                json!({"error": code, "message": "internal error; see the server log", "message_zh": "服务器内部错误"})
            }
            AppError::NotFound(m) => {
                json!({"error": code, "message": m, "message_zh": "找不到（或不在您的范围内）"})
            }
            AppError::Rows(rows) => {
                json!({"error": code, "message": self.to_string(), "message_zh": format!("文件有{}行有误", rows.len()), "rows": rows})
            }
            other => {
                let m = other
                    .message()
                    .unwrap_or_else(|| Msg::new(other.to_string(), other.to_string()));
                let mut body = json!({"error": code, "message": m.en, "message_zh": m.zh});
                if let AppError::Invalid { field, .. } = other {
                    body["field"] = json!(field);
                }
                body
            }
        };
        let mut r = (status, Json(body)).into_response();
        if let AppError::TooManyRequests { retry_after_s, .. } = &self {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, (*retry_after_s).into());
        }
        r
    }
}

/// A path parameter, as axum's `Path` reads it, whose refusal (an id that
/// is not a number, or out of range) is an API error in JSON like every
/// other, not axum's plain-text one.
pub struct Path<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(AppError::bad_request(
                format!("the path is not valid: {}", e.body_text()),
                "网址中的编号无效",
            )),
        }
    }
}
