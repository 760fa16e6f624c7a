//! The HTTP server loop: hyper's HTTP/1 with the limits a public server
//! needs, which `axum::serve` does not set.
//!
//! - A request's headers must arrive within [`HEADER_TIMEOUT`]: a client
//!   that opens connections and sends headers slowly (slowloris) is cut off.
//! - A request must produce its answer's head within [`REQUEST_TIMEOUT`]
//!   (a body trickled in byte by byte gets 408); a streamed answer (an
//!   export) may take as long as it needs after that.
//! - At most [`MAX_CONNECTIONS`] connections at once, [`MAX_PER_ADDRESS`]
//!   from one address; more are closed at once, so one client cannot hold
//!   every slot.
//! - On Ctrl-C or SIGTERM no new connection is taken, requests in flight
//!   finish, and the server stops after [`SHUTDOWN_GRACE`] whatever is left.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;

pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
pub const MAX_CONNECTIONS: usize = 8_192;
pub const MAX_PER_ADDRESS: usize = 512;
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Open connections, in all and per client address.
#[derive(Default)]
struct Connections {
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; dropping it frees its slot.
struct Slot {
    connections: Arc<Connections>,
    ip: IpAddr,
}

impl Connections {
    fn admit(self: &Arc<Self>, ip: IpAddr, total: usize, per_address: usize) -> Option<Slot> {
        let mut open = self.open.lock().ok()?;
        let from_here = open.1.get(&ip).copied().unwrap_or(0);
        if open.0 >= total || from_here >= per_address {
            return None;
        }
        open.0 += 1;
        *open.1.entry(ip).or_insert(0) += 1;
        Some(Slot {
            connections: self.clone(),
            ip,
        })
    }

    fn count(&self) -> usize {
        self.open.lock().map(|o| o.0).unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            open.0 = open.0.saturating_sub(1);
            if let Some(n) = open.1.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    open.1.remove(&self.ip);
                }
            }
        }
    }
}

/// 408 when a request has not produced its answer's head in time (a
/// body sent too slowly, mostly). Imports are exempt: a district's ledger
/// may take longer than that to check and write, and cutting it short
/// would roll it back (they need an account that may import, and their
/// body is bounded).
pub(crate) async fn request_deadline(req: Request, next: Next) -> Response {
    if req.uri().path().contains("/import") {
        return next.run(req).await;
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            "the request took too long to arrive / 请求发送超时",
        )
            .into_response(),
    }
}

/// Brotli or gzip (as the browser takes them) for pages, scripts, styles and JSON
/// (the vendored ECharts is a megabyte); not for what is compressed
/// already (images, Excel files, which are zip archives), not for tiny
/// bodies, and not for answers that set a session cookie.
pub(crate) fn compression()
-> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::Predicate;
    use tower_http::compression::predicate::{NotForContentType, SizeAbove};
    let no_cookie =
        |_: axum::http::StatusCode,
         _: axum::http::Version,
         h: &axum::http::HeaderMap,
         _: &axum::http::Extensions| { !h.contains_key(axum::http::header::SET_COOKIE) };
    tower_http::compression::CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .compress_when(
            SizeAbove::new(1024)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::const_new(
                    "application/vnd.openxmlformats",
                ))
                .and(NotForContentType::const_new("application/zip"))
                .and(NotForContentType::GRPC)
                .and(NotForContentType::SSE)
                .and(no_cookie),
        )
}

/// Largest body a sign-in, sign-up or password change may have: a name
/// and a password or two, with room to spare.
pub const SIGN_IN_BODY: usize = 8 * 1024;
/// Largest body of a spreadsheet import or a photo upload.
pub const UPLOAD_BODY: usize = 64 * 1024 * 1024;
/// Largest body of a form with one photo: an Open311 request, the report,
/// intake and case-step pages.
pub const PHOTO_FORM_BODY: usize = linli_store::photos::MAX_PHOTO_BYTES + 1024 * 1024;
/// Largest body of anything else (a form, a JSON request).
pub const OTHER_BODY: usize = 1024 * 1024;

/// The body limit of a path: small for the anonymous sign-in, large only
/// where a file is uploaded.
pub fn body_limit(path: &str) -> usize {
    if ["/login", "/signup", "/password"]
        .iter()
        .any(|p| path.ends_with(p))
    {
        SIGN_IN_BODY
    } else if path.starts_with("/open311/")
        || path == "/report"
        || path == "/intake"
        || path.ends_with("/act")
    {
        // A photo and its form.
        PHOTO_FORM_BODY
    } else if path.contains("/import")
        || path.ends_with("/photos")
        || path.ends_with("/locate/batch")
    {
        UPLOAD_BODY
    } else {
        OTHER_BODY
    }
}

/// Enforces [`body_limit`]: a declared length over it is refused before
/// anything is read (413); an undeclared one is cut off at the limit.
pub(crate) async fn limit_body(req: Request, next: Next) -> Response {
    let limit = body_limit(req.uri().path());
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        if req.uri().path().starts_with("/open311/") {
            return crate::open311::too_large(req.uri().path(), limit);
        }
        let mb = (limit as f64 / 1_048_576.0).ceil();
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("上传的内容超过{mb} MB上限，请返回选择小一些的文件 · The upload is larger than the limit of {mb} MB"),
        )
            .into_response();
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = Arc::new(Connections::default());
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors, mostly: wait a moment rather
                    // than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = connections.admit(addr.ip(), MAX_CONNECTIONS, MAX_PER_ADDRESS) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!("connection ended: {e}");
                    }
                    return;
                }
                _ = closed.changed() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while connections.count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_limits_by_path() {
        assert_eq!(body_limit("/api/v1/login"), SIGN_IN_BODY);
        assert_eq!(body_limit("/login"), SIGN_IN_BODY);
        assert_eq!(body_limit("/api/v1/import/registry"), UPLOAD_BODY);
        assert_eq!(body_limit("/api/v1/cases/3/photos"), UPLOAD_BODY);
        assert_eq!(body_limit("/api/v1/cases"), OTHER_BODY);
        assert_eq!(body_limit("/api/v1/locate/batch"), UPLOAD_BODY);
        // The page forms that carry a photo take one of the largest size.
        for p in ["/report", "/intake", "/cases/7/act", "/api/v1/cases/7/act"] {
            assert!(body_limit(p) > linli_store::photos::MAX_PHOTO_BYTES, "{p}");
        }
    }

    #[test]
    fn slots_are_limited_per_address_and_in_all_and_freed_on_drop() {
        let c = Arc::new(Connections::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = c.admit(a, 3, 2).unwrap();
        let _s2 = c.admit(a, 3, 2).unwrap();
        assert!(c.admit(a, 3, 2).is_none(), "per address");
        let _s3 = c.admit(b, 3, 2).unwrap();
        assert!(c.admit(b, 3, 2).is_none(), "in all");
        drop(s1);
        assert_eq!(c.count(), 2);
        assert!(c.admit(a, 3, 2).is_some());
    }
}
