//! `list`, `status`/`get` (human, JSON, YAML) and `status --watch`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use rollgate::api::Phase;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::support::{Fixture, rollgate};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn list_status_get_and_watch_follow_a_release() {
    let f = Fixture::new("cli-views").await;
    let _c = f.simple_app(&[(50, "1h"), (100, "1s")]).await;
    let ns = f.name().to_string();
    let stable = f.stable_revision("app").await;

    // list: a kubectl-like table, the same rows as JSON, and -A adds the namespace.
    let out = f.ok(&["list"]).await;
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("NAME"), "{out}");
    let row = lines.next().expect("one row");
    assert!(row.starts_with("app ") && row.contains("Healthy"), "{out}");
    let rows = f.json(&["list"]).await;
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(
        (rows[0]["name"].as_str(), rows[0]["phase"].as_str()),
        (Some("app"), Some("Healthy"))
    );
    assert_eq!(rows[0]["stable"].as_str(), Some(stable.as_str()));
    let all = crate::support::run(f.env, &["list", "-A"]).await;
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(all.stdout.starts_with("NAMESPACE"), "{}", all.stdout);
    assert!(
        all.stdout
            .lines()
            .any(|l| l.starts_with(&ns) && l.contains(" app ")),
        "{}",
        all.stdout
    );

    // status / get: the view for people, the same data for scripts.
    let out = f.ok(&["status", "app"]).await;
    assert!(out.contains(&format!("Rollout:    {ns}/app")), "{out}");
    assert!(out.contains("Phase:      Healthy"), "{out}");
    assert!(
        out.contains(&format!("stable {}", &stable[..10.min(stable.len())])),
        "{out}"
    );
    // Both read as of one instant: "seconds ago" must not tick between the two runs.
    let now = jiff::Timestamp::now().to_string();
    let v = f.json(&["get", "app", "--as-of", &now]).await;
    assert_eq!(
        (v["name"].as_str(), v["namespace"].as_str()),
        (Some("app"), Some(ns.as_str()))
    );
    assert_eq!(v["phase"], "Healthy");
    assert_eq!(v["stableRevision"].as_str(), Some(stable.as_str()));
    assert_eq!(v["stages"].as_array().map(Vec::len), Some(2));
    let yaml = f.ok(&["get", "app", "-o", "yaml", "--as-of", &now]).await;
    let y: Value = serde_norway::from_str(&yaml).expect("-o yaml is YAML");
    assert_eq!(y, v, "YAML and JSON carry the same data");
    let missing = f.cli(&["status", "nope"]).await;
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr.trim(),
        format!("rollgate: rollout nope not found in namespace {ns}")
    );

    // --watch -o json: one document per change; a Healthy rollout is followed into its release.
    let mut watch = rollgate(f.env)
        .args(["status", "app", "--watch", "-o", "json", "-n", &ns])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the watch");
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first: Value =
        serde_json::from_str(&lines.next_line().await.unwrap().expect("a first frame")).unwrap();
    assert_eq!(first["phase"], "Healthy");
    f.set_image("app", "app:v2").await;
    let mut frames = 1;
    let start = Instant::now();
    loop {
        let line = tokio::time::timeout(MINUTE, lines.next_line())
            .await
            .expect("a new frame within a minute")
            .unwrap()
            .expect("the watch keeps running while the canary bakes");
        let frame: Value = serde_json::from_str(&line).expect("one JSON document per line");
        frames += 1;
        if frame["phase"] == "Progressing" && frame["weight"] == 50 {
            break;
        }
        assert!(start.elapsed() < MINUTE, "no Progressing frame");
    }
    assert!(frames >= 2);
    watch.kill().await.unwrap();
    let status = watch.wait().await.unwrap();
    assert!(!status.success(), "killed, not finished");

    f.wait_baking(0).await;
    let out = f.ok(&["status", "app"]).await;
    assert!(out.contains("Phase:      Progressing"), "{out}");
    assert!(out.contains("50%"), "{out}");
    assert!(out.contains("baking"), "{out}");

    // A human watch (piped: one frame per change) ends by itself once the release settles.
    let mut watch = rollgate(f.env)
        .args(["status", "app", "-w", "-n", &ns])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the watch");
    let mut stdout = watch.stdout.take().unwrap();
    // Piped, each frame is a blank line and the view.
    let mut first = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&first).contains("Phase:") {
        let n = tokio::time::timeout(MINUTE, stdout.read(&mut buf))
            .await
            .expect("the first frame within a minute")
            .unwrap();
        assert!(
            n > 0,
            "the watch ended early: {}",
            String::from_utf8_lossy(&first)
        );
        first.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&first)
            .trim_start()
            .starts_with("Rollout:"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    f.ok(&["promote", "app", "--full"]).await;
    let status = tokio::time::timeout(MINUTE, watch.wait())
        .await
        .expect("the watch ends when the rollout settles")
        .unwrap();
    // The first read may end inside a multi-byte character (the progress bar): decode once,
    // after the whole output is in.
    stdout.read_to_end(&mut first).await.unwrap();
    let text = String::from_utf8_lossy(&first).into_owned();
    assert!(status.success(), "{text}");
    let frames: Vec<_> = text
        .split("Rollout:    ")
        .filter(|s| !s.is_empty())
        .collect();
    assert!(frames.len() >= 2, "it redrew: {text}");
    assert!(
        frames.last().unwrap().contains("Phase:      Healthy"),
        "{text}"
    );
    let r = f.wait_phase("app", Phase::Healthy, MINUTE).await;
    assert_ne!(r.status.unwrap().stable_revision, Some(stable));
    f.cleanup().await;
}
