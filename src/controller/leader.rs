//! Leader election through a Lease (kube-lease-manager): replicas wait as followers; only the
//! holder reconciles. A holder that loses the lease stops reconciling at once; on shutdown it
//! releases the lease so a follower takes over without waiting for it to expire.

use std::sync::Arc;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

use super::metrics::Metrics;
use super::serve::{Health, Readiness};
use super::{Settings, run};

/// The longest a shutdown waits for the lease to be released: a follower holds nothing, and a
/// leader's lease expires by itself anyway.
const RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    /// Seconds a lease is valid without renewal: the longest a handover takes.
    pub duration: u64,
}

/// Why the controller stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to (a signal).
    Shutdown,
    /// Another replica holds the lease now.
    LostLease,
}

/// Waits for the lease, runs the controller while holding it, releases it on shutdown.
pub async fn run_elected(
    client: Client,
    settings: Settings,
    lease: LeaseSettings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    mut stop: watch::Receiver<bool>,
) -> Result<Stopped, kube_lease_manager::LeaseManagerError> {
    let identity = settings
        .instance
        .clone()
        .unwrap_or_else(|| format!("rollgate-{}", std::process::id()));
    let build = LeaseManagerBuilder::new(client.clone(), &lease.name)
        .with_namespace(&lease.namespace)
        .with_identity(&identity)
        .with_duration(lease.duration)
        .with_grace((lease.duration / 3).max(1))
        .with_field_manager("rollgate")
        .build();
    let manager = tokio::select! {
        manager = build => manager?,
        _ = stop.wait_for(|s| *s) => return Ok(Stopped::Shutdown),
    };
    let (mut leader, task) = manager.watch().await;
    // A follower is ready: it is up and can take over.
    health.set(Readiness::Follower);
    tracing::info!(%identity, lease = %lease.name, "waiting for the leader lease");
    while !*leader.borrow_and_update() {
        tokio::select! {
            changed = leader.changed() => { if changed.is_err() { break; } }
            _ = stop.wait_for(|s| *s) => {
                drop(leader);
                let _ = tokio::time::timeout(RELEASE_TIMEOUT, task).await;
                return Ok(Stopped::Shutdown);
            }
        }
    }
    tracing::info!(%identity, "holding the leader lease: reconciling");
    metrics.leader.set(1);
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let mut watch_leader = leader.clone();
    let watcher = tokio::spawn(async move {
        while watch_leader.changed().await.is_ok() {
            if !*watch_leader.borrow() {
                let _ = lost_tx.send(());
                return;
            }
        }
    });
    let mut stop_wait = stop.clone();
    let signal = async move {
        let _ = stop_wait.wait_for(|s| *s).await;
    };
    let stopped = Arc::new(std::sync::Mutex::new(Stopped::Shutdown));
    let why = stopped.clone();
    let end = async move {
        tokio::select! {
            _ = signal => {}
            _ = lost_rx => { *why.lock().expect("stop reason") = Stopped::LostLease; }
        }
    };
    run(client, settings, metrics.clone(), health, end).await;
    watcher.abort();
    metrics.leader.set(0);
    // Dropping the last receiver makes the manager release the lease.
    drop(leader);
    let _ = tokio::time::timeout(RELEASE_TIMEOUT, task).await;
    let reason = std::mem::replace(
        &mut *stopped.lock().expect("stop reason"),
        Stopped::Shutdown,
    );
    tracing::info!(?reason, "stopped reconciling; lease released");
    Ok(reason)
}
