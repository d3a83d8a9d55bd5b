//! `incidents`, `incident ack`, `incident resolve` and `postmortem`, after a bad release: the
//! canary answers half of its requests with 5xx, the error-ratio gate fails, the controller
//! rolls back and opens an Incident.

use std::time::Duration;

use kube::{Api, ResourceExt};
use rollgate::api::{Incident, IncidentState, Phase};
use serde_json::json;

use crate::support::{Fixture, USER, error_ratio_gate, rollout};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_release_gives_an_incident_to_list_ack_resolve_and_write_up() {
    let f = Fixture::new("cli-incident").await;
    let ns = f.name().to_string();
    let incidents: Api<Incident> = Api::namespaced(f.client.clone(), &ns);
    f.app("app", 4).await;
    let mut r = rollout(
        "app",
        "app",
        4,
        &[(25, "2s"), (100, "2s")],
        vec![error_ratio_gate(0.05)],
    );
    r["spec"]["incident"] = json!({"severity": "sev2", "owner": "team-payments"});
    f.create_rollout(r).await;
    let _c = f.controller();
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    assert_eq!(
        f.ok(&["incidents"]).await,
        format!("No incidents found in namespace {ns}.\n")
    );
    assert_eq!(f.json(&["incidents"]).await, json!([]));
    f.wait_for_rates(&f.env.prometheus_url).await;

    // The bad release.
    f.metrics("app", "canary", 50.0, 0.5).await;
    f.set_image("app", "app:bad").await;
    let rb = f
        .wait_phase("app", Phase::RolledBack, MINUTE)
        .await
        .status
        .unwrap()
        .rollback
        .unwrap();
    assert_eq!(rb.reason, "GateFailed");
    let incident = f.first_incident().await;
    let name = incident.name_any();

    // incidents: the table and the rows.
    let out = f.ok(&["incidents"]).await;
    let row = out
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("sev2") && row.contains("app"), "{out}");
    let rows = f.json(&["incidents"]).await;
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(
        (
            rows[0]["name"].as_str(),
            rows[0]["rollout"].as_str(),
            rows[0]["severity"].as_str()
        ),
        (Some(name.as_str()), Some("app"), Some("sev2"))
    );
    let all = crate::support::run(f.env, &["incidents", "-A"]).await;
    assert!(
        all.stdout
            .lines()
            .any(|l| l.starts_with(&ns) && l.contains(&name)),
        "{}",
        all.stdout
    );

    // ack: --by defaults to $USER; the controller records it.
    let out = f.ok(&["incident", "ack", &name]).await;
    assert_eq!(
        out,
        format!("incident {ns}/{name} acknowledged by {USER}\n")
    );
    assert_eq!(
        incidents
            .get(&name)
            .await
            .unwrap()
            .spec
            .acknowledged_by
            .as_deref(),
        Some(USER)
    );
    f.wait("the incident Acknowledged", MINUTE, || async {
        let i = incidents.get(&name).await.ok()?;
        (i.status?.state == IncidentState::Acknowledged).then_some(())
    })
    .await;

    // resolve --by, as JSON.
    let marked = f
        .json(&["incident", "resolve", &name, "--by", "alice"])
        .await;
    assert_eq!(
        marked,
        json!({"namespace": ns, "incident": name, "field": "spec.resolvedBy", "by": "alice"})
    );
    f.wait("the incident Resolved", MINUTE, || async {
        let i = incidents.get(&name).await.ok()?;
        (i.status?.state == IncidentState::Resolved).then_some(())
    })
    .await;
    let out = f.ok(&["incidents"]).await;
    assert!(
        out.lines()
            .any(|l| l.starts_with(&name) && l.contains("Resolved")),
        "{out}"
    );

    // postmortem: a Markdown draft naming the gate, the revisions and the people.
    let md = f.ok(&["postmortem", &name]).await;
    assert!(
        md.starts_with(&format!(
            "# Post-mortem: Rolled back {ns}/app: gate error-ratio failed"
        )),
        "{md}"
    );
    for needle in [
        "error-ratio",
        &incident.spec.to_revision,
        "## Timeline",
        "alice",
    ] {
        assert!(
            md.contains(needle),
            "the post-mortem lacks {needle:?}:\n{md}"
        );
    }
    let v = f.json(&["postmortem", &name]).await;
    assert_eq!(v["incident"].as_str(), Some(name.as_str()));
    assert_eq!(v["markdown"].as_str(), Some(md.as_str()));
    let missing = f.cli(&["postmortem", "nope"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("incident nope not found"),
        "{}",
        missing.stderr
    );
    f.cleanup().await;
}
