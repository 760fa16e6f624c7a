//! Background jobs of the server: audit chaining, rollup folding, overdue
//! detection and webhook delivery.
//!
//! Several servers may share one database. Each round, every server drops
//! the caches another server changed; the jobs run on the one server that
//! holds the jobs' lease ([`LEASE`]), renewed every round. Each job is also
//! safe when two servers run it at once (a lease can run out during a slow
//! round): the chainer and the folder serialise on the database, an
//! overdue mark is set once by a conditional UPDATE, and a webhook is
//! claimed before it is sent.

use std::time::Duration;

use chrono::Utc;
use linli_store::Store;

/// How often the jobs run.
pub const PERIOD: Duration = Duration::from_secs(5);

/// The lease that says which server runs the jobs.
pub const LEASE: &str = "background_jobs";

/// How long a round's lease lasts: several rounds, so that one slow round
/// does not hand the jobs over.
pub const LEASE_MS: i64 = 30_000;

/// How long one round may spend sending webhooks (each send times out
/// after 10 s): well inside the lease.
const ROUND_BUDGET: Duration = Duration::from_secs(15);

/// Resolves the host names of webhook targets and drops every address no
/// webhook may reach ([`refused_webhook_address`]): a name that points at
/// the cloud's metadata service, or is pointed there after its URL was
/// saved, is never connected to. `fixed` answers every name with the given
/// addresses instead of asking DNS (for tests).
///
/// [`refused_webhook_address`]: linli_core::dispatch::refused_webhook_address
#[derive(Debug, Default, Clone)]
pub struct WebhookResolver {
    pub fixed: Option<Vec<std::net::IpAddr>>,
}

impl reqwest::dns::Resolve for WebhookResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let fixed = self.fixed.clone();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> = match fixed {
                Some(ips) => ips
                    .into_iter()
                    .map(|ip| std::net::SocketAddr::new(ip, 0))
                    .collect(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let allowed: Vec<std::net::SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| !linli_core::dispatch::refused_webhook_address(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves only to addresses a webhook may not reach (link-local, unspecified or multicast): {found:?}"
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client webhooks are sent with: 10 s per send, host names resolved
/// by `resolver`, and no redirects followed (a redirect to a literal
/// address would bypass the resolver's check; a 3xx counts as a failure).
pub fn webhook_client(resolver: WebhookResolver) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the names itself, past the resolver's check.
        .no_proxy()
        .dns_resolver(std::sync::Arc::new(resolver))
        .build()
}

/// An error with its causes, which say why a send failed (the outer error
/// only names the URL).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Sends the deliveries due now; returns (sent, failed).
pub async fn deliver_due(
    store: &Store,
    client: &reqwest::Client,
    now: i64,
) -> linli_store::Result<(u32, u32)> {
    let mut sent = 0;
    let mut failed = 0;
    // `now` says what is due; claims and outcomes are timed by the clock
    // as it is then (sends take time), never earlier than `now`.
    let clock = || now.max(Utc::now().timestamp_millis());
    let started = std::time::Instant::now();
    for d in store.due_deliveries(now, 50).await? {
        // A round stays well inside the jobs' lease; the rest waits.
        if started.elapsed() > ROUND_BUDGET {
            break;
        }
        // Another server may have taken it since the read.
        let Some(claim) = store.claim_delivery(&d, clock()).await? else {
            continue;
        };
        // A URL saved before the rules of check_webhook_url (or written to
        // the database by hand) is checked again before it is sent to.
        if let Err(refused) = linli_core::dispatch::check_webhook_url(&d.target_url) {
            store
                .delivery_failed(&d, claim, clock(), &refused.en)
                .await?;
            failed += 1;
            continue;
        }
        let signature = store.vault().sign_webhook(d.payload.as_bytes());
        let result = client
            .post(&d.target_url)
            .header("content-type", "application/json")
            .header("x-linli-event", &d.topic)
            .header("x-linli-delivery", d.id.to_string())
            .header("x-linli-signature", signature)
            .body(d.payload.clone())
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => {
                store.delivery_succeeded(d.id, clock()).await?;
                sent += 1;
            }
            Ok(r) => {
                store
                    .delivery_failed(&d, claim, clock(), &format!("HTTP {}", r.status()))
                    .await?;
                failed += 1;
            }
            Err(e) => {
                store
                    .delivery_failed(&d, claim, clock(), &with_causes(&e))
                    .await?;
                failed += 1;
            }
        }
    }
    Ok((sent, failed))
}

/// One round of every job.
pub async fn run_once(store: &Store, client: &reqwest::Client) {
    if let Err(e) = store.chain_audit().await {
        tracing::error!("audit chaining failed: {e}");
    }
    if let Err(e) = store.fold_rollup().await {
        tracing::error!("rates rollup folding failed: {e}");
    }
    let now = Utc::now();
    match store.scan_overdue(now).await {
        Ok(n) if n > 0 => tracing::info!(cases = n, "cases became overdue"),
        Ok(_) => {}
        Err(e) => tracing::error!("overdue scan failed: {e}"),
    }
    match deliver_due(store, client, now.timestamp_millis()).await {
        Ok((s, f)) if s + f > 0 => tracing::info!(sent = s, failed = f, "webhooks"),
        Ok(_) => {}
        Err(e) => tracing::error!("webhook delivery failed: {e}"),
    }
}

/// A name for this server among others: random, new at every start.
pub fn instance_id() -> String {
    use rand_core::{OsRng, TryRngCore};
    let mut b = [0u8; 8];
    if OsRng.try_fill_bytes(&mut b).is_err() {
        // Still distinct between servers: the process and the moment.
        let t = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        return format!("{}-{t:x}", std::process::id());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One round as one of several servers: the jobs run when this server
/// holds (or takes) the lease. The lease is timed by the database's clock,
/// so servers whose clocks disagree still agree on who holds it. True when
/// it ran them.
pub async fn round(store: &Store, client: &reqwest::Client, instance: &str) -> bool {
    let now = match store.db_now_ms().await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("database clock unavailable: {e}");
            return false;
        }
    };
    match store.try_lease(LEASE, instance, now, LEASE_MS).await {
        Ok(true) => {
            run_once(store, client).await;
            true
        }
        Ok(false) => false,
        Err(e) => {
            tracing::error!("job lease failed: {e}");
            false
        }
    }
}

/// Runs the jobs every [`PERIOD`] until the process ends; beside them, and
/// not held up by a slow round, drops the caches another server changed.
/// How often a server with a checkpoint file appends the audit head to it.
pub const CHECKPOINT_PERIOD: Duration = Duration::from_secs(600);

/// Takes a checkpoint of the audit chain and appends it to `path`; a
/// failure is logged (the next one comes at the next tick).
pub async fn write_checkpoint(store: &Store, path: &std::path::Path) {
    let written = match store.audit_checkpoint().await {
        Ok(cp) => {
            let path = path.to_path_buf();
            linli_store::off_async(move || linli_store::audit::append_checkpoint(&path, &cp))
                .await
                .and_then(|r| r)
        }
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        tracing::error!("audit checkpoint not written: {e}");
    }
}

pub async fn run_forever(
    store: Store,
    instance: String,
    checkpoints: Option<std::sync::Arc<std::path::PathBuf>>,
) {
    let client = match webhook_client(WebhookResolver::default()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("no HTTP client for webhooks: {e}");
            return;
        }
    };
    let jobs = async {
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tick.tick().await;
            round(&store, &client, &instance).await;
        }
    };
    let caches = async {
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tick.tick().await;
            if let Err(e) = store.refresh_caches().await {
                tracing::error!("cache refresh failed: {e}");
            }
        }
    };
    // Every server keeps its own file of checkpoints (no lease needed:
    // taking one only reads the head, after chaining what is pending).
    let checkpoint = async {
        let Some(path) = checkpoints else {
            return;
        };
        let mut tick = tokio::time::interval(CHECKPOINT_PERIOD);
        loop {
            tick.tick().await;
            write_checkpoint(&store, &path).await;
        }
    };
    tokio::join!(jobs, caches, checkpoint);
}
