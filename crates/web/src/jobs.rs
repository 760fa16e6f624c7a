//! Background jobs of the server: audit chaining, overdue detection and
//! webhook delivery.

use std::time::Duration;

use chrono::Utc;
use linli_store::Store;

/// How often the jobs run.
pub const PERIOD: Duration = Duration::from_secs(5);

/// Sends the deliveries due now; returns (sent, failed).
pub async fn deliver_due(
    store: &Store,
    client: &reqwest::Client,
    now: i64,
) -> linli_store::Result<(u32, u32)> {
    let mut sent = 0;
    let mut failed = 0;
    for d in store.due_deliveries(now, 50).await? {
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
                store.delivery_succeeded(d.id, now).await?;
                sent += 1;
            }
            Ok(r) => {
                store
                    .delivery_failed(&d, now, &format!("HTTP {}", r.status()))
                    .await?;
                failed += 1;
            }
            Err(e) => {
                store.delivery_failed(&d, now, &e.to_string()).await?;
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

/// Runs the jobs every [`PERIOD`] until the process ends.
pub async fn run_forever(store: Store) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("no HTTP client for webhooks: {e}");
            return;
        }
    };
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        run_once(&store, &client).await;
    }
}
