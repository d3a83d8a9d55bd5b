//! The controller killed between two writes: no side effect happens twice or without its
//! record. Crash points (`ROLLGATE_CRASH_AT`) abort the process exactly between the writes.

use kube::ResourceExt;
use kube::api::ListParams;
use rollgate::api::{IncidentState, Phase};
use serde_json::Value;

use crate::incidents::{Destinations, MINUTE, adopted, bad_release, bodies, incidents};
use rollgate_platform::receiver::Receiver;

use crate::support::Fixture;

/// A bad release whose controller dies at `point`; a fresh controller takes over. The on-call
/// is paged once, and the incident tells one rollback, not two.
async fn pages_once_across_a_crash_at(prefix: &str, point: &str) {
    let f = Fixture::new(prefix).await;
    let d = Destinations::create(&f).await;
    let mut c = adopted(&f, &["pd", "slack"], Fixture::controller).await;
    c.crash_at(point);
    bad_release(&f).await;
    if !c.exited_within(MINUTE).await {
        f.fail(&format!("the controller never reached crash point {point}"))
            .await;
    }
    let st = f.rollout("app").await.status.unwrap();
    assert_eq!(st.phase, Phase::RollingBack, "the decision is on record");
    let named = st
        .incident_ref
        .clone()
        .expect("the decision names its incident");
    c.recover();
    f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    let incident = f
        .wait("the incident mitigated and delivered", MINUTE, || async {
            let list = incidents(&f).list(&ListParams::default()).await.ok()?.items;
            assert!(list.len() <= 1, "one incident, found {}", list.len());
            let i = list.into_iter().next()?;
            let st = i.status.as_ref()?;
            let delivered =
                st.deliveries.len() >= 2 && st.deliveries.iter().all(|d| d.delivered_at.is_some());
            (st.state == IncidentState::Mitigated && delivered).then_some(i)
        })
        .await;
    assert_eq!(incident.name_any(), named.name);
    let st = incident.status.as_ref().unwrap();
    assert_eq!(st.occurrences.len(), 1, "one rollback: {:?}", st.timeline);
    assert!(
        !st.timeline.iter().any(|e| e.message.contains("again")),
        "no false 'failed again': {:?}",
        st.timeline
    );
    // Give a second trigger every chance to arrive before counting.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let triggers: Vec<Value> = bodies(&d.pagerduty, "/v2/enqueue")
        .into_iter()
        .filter(|b| b["event_action"] == "trigger")
        .collect();
    assert_eq!(triggers.len(), 1, "one page: {triggers:?}");
    assert_eq!(triggers[0]["dedup_key"], incident.spec.dedup_key);
    assert_eq!(posts(&d.slack), 1, "one Slack post");
    f.cleanup().await;
}

fn posts(r: &Receiver) -> usize {
    bodies(r, "/services/").len()
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_between_the_rollback_status_and_the_incident_the_controller_pages_once() {
    pages_once_across_a_crash_at("crash-status", "after-rollback-status").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_right_after_creating_the_incident_the_controller_pages_once() {
    pages_once_across_a_crash_at("crash-incident", "after-incident-created").await;
}
