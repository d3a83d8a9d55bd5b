//! `rollgate status --watch`: redraw on every change of the Rollout, and every second for the
//! countdowns, until Ctrl-C or until the rollout settles after having been under way.
//! `rollgate list --watch`: the same for the list, until Ctrl-C.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::watcher;

use super::cluster::Cluster;
use super::view::{self, RolloutView, is_settled};
use super::{CliError, Output};
use crate::api::Rollout;
use kube::ResourceExt;

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
    frame(&text, output, clear)
}

pub async fn list(cluster: &Cluster, all_namespaces: bool, output: Output) -> Result<(), CliError> {
    let api = cluster.api_in::<Rollout>(all_namespaces);
    let mut events = watcher(api, watcher::Config::default()).boxed();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let clear = output == Output::Human && std::io::stdout().is_terminal();
    // Sorted as `rollgate list` sorts: by namespace, then name.
    let mut shown: Option<BTreeMap<(String, String), Rollout>> = None;
    let mut listing = BTreeMap::new();
    let key = |r: &Rollout| (r.namespace().unwrap_or_default(), r.name_any());
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let changed = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            // Ages move every second on a terminal; otherwise one frame per change.
            _ = tick.tick() => clear,
            event = events.next() => match (event, shown.as_mut()) {
                (Some(Ok(watcher::Event::Init)), _) => { listing.clear(); false }
                (Some(Ok(watcher::Event::InitApply(r))), _) => { listing.insert(key(&r), r); false }
                (Some(Ok(watcher::Event::InitDone)), _) => {
                    shown = Some(std::mem::take(&mut listing));
                    true
                }
                (Some(Ok(watcher::Event::Apply(r))), Some(s)) => {
                    let version = r.metadata.resource_version.clone();
                    s.insert(key(&r), r).is_none_or(|old| old.metadata.resource_version != version)
                }
                (Some(Ok(watcher::Event::Delete(r))), Some(s)) => s.remove(&key(&r)).is_some(),
                (Some(Ok(_)), None) => false,
                // The watcher retries by itself; a failed attempt only delays the next redraw.
                (Some(Err(e)), _) => { tracing::debug!(error = %e, "watch interrupted"); false }
                (None, _) => return Ok(()),
            },
        };
        let Some(s) = shown.as_ref().filter(|_| changed) else {
            continue;
        };
        let rollouts: Vec<Rollout> = s.values().cloned().collect();
        let text = match output {
            Output::Json => serde_json::to_string(&super::view::rollout_rows(
                &rollouts,
                jiff::Timestamp::now(),
            ))
            .map(|s| s + "\n")
            .map_err(|e| CliError::Encode(e.to_string()))?,
            Output::Yaml => format!(
                "---\n{}",
                super::rollouts::list_text(cluster, &rollouts, all_namespaces, output)?
            ),
            Output::Human => {
                super::rollouts::list_text(cluster, &rollouts, all_namespaces, output)?
            }
        };
        frame(&text, output, clear)?;
    }
}

/// Writes one frame: on a terminal it replaces the last one; piped, frames follow each other.
fn frame(text: &str, output: Output, clear: bool) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    if clear {
        // Overwrite in place rather than blank the screen first (no flicker): home, each line
        // fitted to the terminal and cleared to its end, then whatever the last frame left below.
        let mut screen = String::from("\x1b[H");
        for line in super::table::fit(text, terminal_columns()).lines() {
            screen += line;
            screen += "\x1b[K\n";
        }
        screen += "\x1b[J";
        out.write_all(screen.as_bytes())?;
        out.flush()?;
        return Ok(());
    } else if output == Output::Human {
        out.write_all(b"\n")?;
    }
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// The terminal's width (80 when it cannot tell).
fn terminal_columns() -> usize {
    // SAFETY: TIOCGWINSZ fills the winsize we own and reads nothing else.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
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
