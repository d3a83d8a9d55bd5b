//! `rollgate status --watch` and `rollgate list --watch` in a real terminal: tmux (installed by
//! hack/setup.sh) runs them in an 80-column pane while a release is promoted and another rolled
//! back, and every screen captured on the way is checked: each frame replaces the last in
//! place (the first line is always the header: no blank flash, no frames stacking up), and no
//! line wraps (captured with and without joining wrapped lines, the screens are the same).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rollgate::api::Phase;

use crate::support::{Fixture, USER, error_ratio_gate};

const MINUTE: Duration = Duration::from_secs(60);
const COLUMNS: usize = 80;

/// A tmux server of its own (its own socket), killed when dropped.
struct Terminal {
    socket: String,
}

impl Terminal {
    fn new(f: &Fixture) -> Terminal {
        Terminal {
            socket: format!("rollgate-{}", f.name()),
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs (hack/setup.sh installs it)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `rollgate ARGS` in a new 80×50 session; the pane stays (with the exit code) after
    /// it ends.
    fn run(&self, f: &Fixture, session: &str, args: &[&str]) {
        let bin = env!("CARGO_BIN_EXE_rollgate");
        let kubeconfig = PathBuf::from(&f.env.kubeconfig);
        let script = r#""$0" "$@"; echo "[exit $?]"; exec cat"#;
        let mut all = vec!["new-session", "-d", "-s", session, "-x", "80", "-y", "50"];
        let env_kube = format!("KUBECONFIG={}", kubeconfig.display());
        let env_user = format!("USER={USER}");
        all.extend([
            "-e",
            &env_kube,
            "-e",
            &env_user,
            "-e",
            "TERM=xterm-256color",
        ]);
        all.extend(["sh", "-c", script, bin]);
        all.extend(args);
        self.tmux(&all);
    }

    /// The visible screen twice at one instant (tmux runs one command list without reading the
    /// pane in between): as shown, and with the lines the terminal wrapped joined. Trailing
    /// blanks dropped.
    fn screens(&self, session: &str) -> (String, String) {
        const CUT: &str = "8<--cut-here--";
        let text = self.tmux(&[
            "capture-pane",
            "-p",
            "-t",
            session,
            ";",
            "display-message",
            "-p",
            CUT,
            ";",
            "capture-pane",
            "-p",
            "-J",
            "-t",
            session,
        ]);
        let (shown, joined) = text.split_once(&format!("{CUT}\n")).expect("both captures");
        let tidy = |t: &str| {
            let lines: Vec<&str> = t.lines().map(str::trim_end).collect();
            let end = lines
                .iter()
                .rposition(|l| !l.is_empty())
                .map_or(0, |i| i + 1);
            lines[..end].join("\n")
        };
        (tidy(shown), tidy(joined))
    }

    /// Captures `session` until `done` holds for a screen, checking every screen on the way.
    async fn wait(
        &self,
        session: &str,
        header: &str,
        what: &str,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        let mut screens = 0;
        loop {
            let (screen, joined) = self.screens(session);
            if !screen.is_empty() {
                screens += 1;
                let first = screen.lines().next().unwrap_or_default();
                assert!(
                    first.starts_with(header),
                    "frame {screens}: drawn in place, the header first:\n{screen}"
                );
                assert_eq!(
                    screen.matches(header).count(),
                    1,
                    "one frame on screen:\n{screen}"
                );
                assert_eq!(screen, joined, "no line wraps at {COLUMNS} columns");
                assert!(screen.lines().all(|l| l.chars().count() <= COLUMNS));
                if done(&screen) {
                    return screen;
                }
            }
            assert!(
                start.elapsed() < MINUTE,
                "{what} within a minute; last screen:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits until the target's `rollgate.dev/served-by` annotation reads `tracks`.
async fn served_by(f: &Fixture, tracks: &str) {
    f.wait(&format!("served-by {tracks}"), MINUTE, || async {
        let d = f.deployments().get("app").await.ok()?;
        let annotations = d.metadata.annotations.unwrap_or_default();
        (annotations
            .get("rollgate.dev/served-by")
            .map(String::as_str)
            == Some(tracks))
        .then_some(())
    })
    .await;
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watches_redraw_in_place_at_80_columns_through_a_release_and_a_rollback() {
    let f = Fixture::new("cli-tmux").await;
    let ns = f.name().to_string();
    let _c = f
        .adopted(
            // A bake far longer than a failing gate needs: the bad release fails at stage 1.
            &[(25, "30s"), (100, "1s")],
            vec![error_ratio_gate(0.05)],
            &f.env.prometheus_url,
        )
        .await;
    let t = Terminal::new(&f);
    let header = format!("Rollout:    {ns}/app");

    // A good release, followed from Healthy through its stages to Healthy again.
    t.run(&f, "release", &["status", "app", "-w", "-n", &ns]);
    t.wait("release", &header, "the first frame", |s| {
        s.contains("Phase:      Healthy")
    })
    .await;
    f.set_image("app", "app:v2").await;
    let baking = t
        .wait("release", &header, "stage 1 baking", |s| {
            s.contains("Phase:      Progressing") && s.contains("baking")
        })
        .await;
    assert!(baking.contains("% now"), "{baking}");
    assert!(baking.contains("app-stable + app-canary"), "{baking}");
    // The user's Deployment (0/0 in `kubectl get deploy`) says which tracks serve it.
    served_by(&f, "app-stable,app-canary").await;
    f.ok(&["promote", "app", "--full"]).await;
    let done = t
        .wait("release", &header, "the watch to end on Healthy", |s| {
            s.contains("[exit 0]")
        })
        .await;
    assert!(done.contains("Phase:      Healthy"), "{done}");
    assert!(
        done.lines()
            .any(|l| l.starts_with("Revisions:  stable ") && !l.contains("canary")),
        "a Healthy rollout shows one revision:\n{done}"
    );
    served_by(&f, "app-stable").await;

    // A bad release, rolled back, in `status --watch` and `list --watch` side by side.
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    t.run(&f, "rollback", &["status", "app", "-w", "-n", &ns]);
    t.run(&f, "list", &["list", "-w", "-n", &ns]);
    t.wait("rollback", &header, "the first frame", |s| {
        s.contains("Phase:      Healthy")
    })
    .await;
    t.wait("list", "NAME", "the list", |s| s.contains("Healthy"))
        .await;
    f.metrics("app", "canary", 50.0, 0.5).await;
    f.set_image("app", "app:bad").await;
    let rolled_back = t
        .wait("rollback", &header, "the watch to end on RolledBack", |s| {
            s.contains("[exit 0]")
        })
        .await;
    assert!(
        rolled_back.contains("Phase:      RolledBack"),
        "{rolled_back}"
    );
    assert!(
        rolled_back.contains("0% now\nAt failure: 25%, 1 of 4 pods on the canary for ")
            && rolled_back.contains(", stage 1/2\n"),
        "exposure now and at failure, labelled:\n{rolled_back}"
    );
    assert!(rolled_back.contains("rolled back "), "{rolled_back}");
    assert!(
        rolled_back
            .lines()
            .any(|l| l.starts_with("            ") && !l.trim().is_empty()),
        "the long message wraps under its label:\n{rolled_back}"
    );
    let list = t
        .wait("list", "NAME", "RolledBack in the list", |s| {
            s.contains("RolledBack")
        })
        .await;
    assert!(
        list.lines().nth(1).unwrap_or_default().starts_with("app "),
        "{list}"
    );
    f.cleanup().await;
}
