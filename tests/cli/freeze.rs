//! `freeze`, `freezes` and `unfreeze`, scoped to the test's own namespace (other tests run at
//! the same time: nothing here freezes every namespace).

use std::time::Duration;

use kube::Api;
use rollgate::api::{Freeze, Phase};
use serde_json::{Value, json};

use crate::support::{Fixture, USER};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn freeze_holds_the_namespace_abort_rolls_back_and_unfreeze_lifts_it() {
    let f = Fixture::new("cli-freeze").await;
    let ns = f.name().to_string();
    let name = format!("rollgate-freeze-{ns}");
    let freezes: Api<Freeze> = Api::all(f.client.clone());
    let _c = f.simple_app(&[(50, "1h"), (100, "1s")]).await;
    f.set_image("app", "app:v2").await;
    f.wait_baking(0).await;

    // freeze: one Freeze for the namespace, by $USER, with the reason.
    let out = f.ok(&["freeze", "--reason", "payments outage"]).await;
    assert_eq!(
        out,
        format!(
            "namespace {ns} frozen (Freeze {name} by {USER}: payments outage): no rollout there advances and no canary starts; lift it with `rollgate unfreeze -n {ns}`\n"
        )
    );
    let fr = freezes.get(&name).await.expect("the Freeze exists");
    assert_eq!(fr.spec.namespaces, vec![ns.clone()]);
    assert_eq!(
        (
            fr.spec.abort,
            fr.spec.by.as_deref(),
            fr.spec.reason.as_deref()
        ),
        (false, Some(USER), Some("payments outage"))
    );
    assert!(
        fr.metadata
            .managed_fields
            .unwrap_or_default()
            .iter()
            .any(|m| m.manager.as_deref() == Some("rollgate-cli")
                && m.operation.as_deref() == Some("Apply")),
        "server-side applied"
    );
    let r = f.wait_phase("app", Phase::Paused, MINUTE).await;
    assert_eq!(
        r.status.unwrap().frozen.map(|fz| fz.name),
        Some(name.clone())
    );
    assert!(f.ok(&["status", "app"]).await.contains("Frozen:"));

    // freezes: ours is listed (others' may be too: the kind is cluster-scoped).
    let out = crate::support::run(f.env, &["freezes"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("NAME"), "{}", out.stdout);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(
        line.contains(&ns)
            && line.contains("false")
            && line.contains(USER)
            && line.ends_with("payments outage"),
        "{line}"
    );
    let rows: Value = serde_json::from_str(
        &crate::support::run(f.env, &["freezes", "-o", "json"])
            .await
            .stdout,
    )
    .unwrap();
    let ours = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name.as_str())
        .expect("listed as JSON")
        .clone();
    assert_eq!(ours["namespaces"], json!([ns]));
    assert_eq!(
        (ours["all"].as_bool(), ours["by"].as_str()),
        (Some(false), Some(USER))
    );

    // Freezing again with --abort updates the same Freeze (server-side apply): canaries roll back.
    let applied = f.json(&["freeze", "--abort", "--by", "alice"]).await;
    assert_eq!(applied[0]["name"].as_str(), Some(name.as_str()));
    assert_eq!(
        (
            applied[0]["abort"].as_bool(),
            applied[0]["by"].as_str(),
            applied[0]["reason"].as_str()
        ),
        (Some(true), Some("alice"), None)
    );
    let st = f
        .wait_phase("app", Phase::RolledBack, MINUTE)
        .await
        .status
        .unwrap();
    assert_eq!(st.rollback.unwrap().reason, "FreezeAbort");

    // unfreeze: deleted; again: not frozen, still success.
    let out = f.ok(&["unfreeze"]).await;
    assert_eq!(
        out,
        format!("namespace {ns} unfrozen (Freeze {name} deleted)\n")
    );
    assert!(freezes.get_opt(&name).await.unwrap().is_none());
    let again = f.json(&["unfreeze"]).await;
    assert_eq!(
        again,
        json!([{"name": name, "namespace": ns, "deleted": false, "stillFrozenBy": []}])
    );
    f.wait_rollout("app", "the freeze gone from the status", MINUTE, |r| {
        r.status.as_ref().is_some_and(|s| s.frozen.is_none())
    })
    .await;

    // Usage errors exit non-zero without touching the cluster.
    // (`f.cli` adds `-n`: this never freezes every namespace.)
    let r = f.cli(&["freeze", "--all"]).await;
    assert_eq!(r.code, 2, "--all with -n is refused: {}", r.stderr);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    f.cleanup().await;
}
