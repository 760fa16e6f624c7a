//! One error type for every handler: a JSON body `{error, message, field?, rows?}`
//! with the right status; database details go to the log, never to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use linli_store::StoreError;
use linli_store::import::RowError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("the file has {} bad rows", .0.len())]
    Rows(Vec<RowError>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_s: u64 },
    /// The database's disk is full: 507, and nothing was written.
    #[error("{0}")]
    StorageFull(String),
    #[error("internal error")]
    Internal(String),
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
            other if other.is_storage_full() => AppError::StorageFull(
                "the server's disk is full: nothing was saved; tell the administrator / 服务器磁盘已满，未保存，请联系管理员".into(),
            ),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
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
            AppError::StorageFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "storage_full"),
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
                json!({"error": code, "message": "internal error; see the server log"})
            }
            AppError::Invalid { field, message } => {
                json!({"error": code, "field": field, "message": message})
            }
            AppError::Rows(rows) => {
                json!({"error": code, "message": self.to_string(), "rows": rows})
            }
            other => json!({"error": code, "message": other.to_string()}),
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
            Err(e) => Err(AppError::BadRequest(format!(
                "the path is not valid: {}",
                e.body_text()
            ))),
        }
    }
}
