//! `rollgate status --watch`: redraw on every change of the Rollout, and every second for the
//! countdowns, until Ctrl-C or until the rollout settles after having been under way.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::watcher;

use super::cluster::Cluster;
use super::view::{self, RolloutView, is_settled};
use super::{CliError, Output};
use crate::api::Rollout;

/// Whether to stop after showing `phase`: once a rollout that was under way has settled. A
/// rollout already settled when the watch starts is followed into its next release.
pub fn done(was_under_way: bool, phase: crate::api::Phase) -> bool {
    was_under_way && is_settled(phase)
}

pub async fn status(cluster: &Cluster, name: &str, output: Output) -> Result<(), CliError> {
    let mut latest = super::rollouts::get(cluster, name).await?;
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(cluster.api::<Rollout>(), config).boxed();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut was_under_way = false;
    let clear = output == Output::Human && std::io::stdout().is_terminal();
    let mut changed = true;
    // One listener for the whole watch: a Ctrl-C during a redraw is not lost.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let phase = latest.status.as_ref().map(|s| s.phase).unwrap_or_default();
        // Countdowns move every second on a terminal; otherwise one frame per change.
        if changed || clear {
            draw(&latest, output, clear)?;
        }
        if done(was_under_way, phase) {
            return Ok(());
        }
        was_under_way |= !is_settled(phase);
        changed = false;
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            _ = tick.tick() => {}
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(r) | watcher::Event::InitApply(r))) => {
                    changed = r.metadata.resource_version != latest.metadata.resource_version;
                    latest = r;
                }
                Some(Ok(watcher::Event::Delete(_))) => {
                    return Err(CliError::NotFound {
                        what: format!("rollout {name} (deleted)"),
                        namespace: cluster.namespace.clone(),
                    });
                }
                Some(Ok(_)) => {}
                // The watcher retries by itself; a failed attempt only delays the next redraw.
                Some(Err(e)) => tracing::debug!(error = %e, "watch interrupted"),
                None => return Ok(()),
            },
        }
    }
}

fn draw(rollout: &Rollout, output: Output, clear: bool) -> Result<(), CliError> {
    let view = RolloutView::new(rollout, jiff::Timestamp::now());
    let text = match output {
        Output::Json => serde_json::to_string(&view)
            .map(|s| s + "\n")
            .map_err(|e| CliError::Encode(e.to_string()))?,
        Output::Yaml => format!("---\n{}", output.render(&view, view::render)?),
        Output::Human => view::render(&view),
    };
    let mut out = std::io::stdout().lock();
    if clear {
        // Home, then clear the screen: one frame at a time.
        out.write_all(b"\x1b[H\x1b[2J")?;
    } else if output == Output::Human {
        out.write_all(b"\n")?;
    }
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Phase;

    #[test]
    fn a_watch_ends_when_a_rollout_under_way_settles() {
        assert!(
            !done(false, Phase::Healthy),
            "settled at start: keep following"
        );
        assert!(!done(true, Phase::Progressing));
        assert!(!done(true, Phase::Paused));
        assert!(done(true, Phase::Healthy));
        assert!(done(true, Phase::RolledBack));
        assert!(done(true, Phase::Invalid));
    }
}
