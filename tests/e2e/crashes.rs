//! The controller killed between two writes, or at random: no side effect happens twice or
//! without its record, no stage is skipped or repeated. Crash points (`ROLLGATE_CRASH_AT`) abort
//! the process exactly between two writes; the random test SIGKILLs it 30 times.

use std::time::{Duration, SystemTime};

use kube::ResourceExt;
use kube::api::ListParams;
use rollgate::api::{IncidentState, MessageKind, Phase};
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
    tokio::time::sleep(Duration::from_secs(3)).await;
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

/// A small deterministic generator, seeded per run (printed, and `ROLLGATE_CRASH_SEED` replays).
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("ROLLGATE_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("crash seed {seed} (ROLLGATE_CRASH_SEED={seed} replays it)");
        Rng(seed | 1)
    }

    /// A duration in [lo, hi) milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(lo + self.0 % (hi - lo))
    }
}

/// Waits until Prometheus sees the canary track's error ratio under `max`.
async fn canary_error_ratio_below(f: &Fixture, max: f64) {
    let pool = rollgate::prometheus::PrometheusPool::default();
    let endpoint = rollgate::prometheus::Endpoint {
        address: f.env.prometheus_url.clone(),
        bearer_token: None,
        ca_pem: None,
    };
    let ns = f.name();
    let query = format!(
        "sum(rate(http_requests_total{{namespace=\"{ns}\",rollgate_track=\"canary\",code=~\"5..\"}}[5s])) / sum(rate(http_requests_total{{namespace=\"{ns}\",rollgate_track=\"canary\"}}[5s]))"
    );
    f.wait(
        "the canary's old errors out of the window",
        MINUTE,
        || async {
            let v = pool
                .query(&endpoint, &query, jiff::Timestamp::now())
                .await
                .ok()?;
            v.first().is_some_and(|v| *v < max).then_some(())
        },
    )
    .await;
}

/// Arrivals at a receiver between `from` and `to`.
fn arrivals(r: &Receiver, path: &str, from: SystemTime, to: SystemTime) -> Vec<SystemTime> {
    r.requests()
        .into_iter()
        .filter(|q| q.path.starts_with(path) && q.at >= from && q.at <= to)
        .map(|q| q.at)
        .collect()
}

/// At-least-once, and no more: a second send is allowed only when a kill landed after the first
/// reached the destination and before its outcome was on record (`recorded`).
fn sent_once_or_resent_after_a_kill(
    what: &str,
    sends: &[SystemTime],
    recorded: SystemTime,
    kills: &[SystemTime],
) {
    assert!(!sends.is_empty(), "{what}: never sent");
    let killed_in_window = kills.iter().any(|k| *k > sends[0] && *k < recorded);
    let allowed = if killed_in_window { 2 } else { 1 };
    assert!(
        sends.len() <= allowed,
        "{what}: sent {} times, kills {kills:?}, first {:?}, recorded {recorded:?}",
        sends.len(),
        sends[0]
    );
    if sends.len() == 2 {
        println!("{what}: resent once after a kill between its send and its record");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_random_kills_across_good_and_bad_releases_skip_nothing_and_page_once() {
    let f = Fixture::new("crash-random").await;
    let d = Destinations::create(&f).await;
    let mut c = adopted(&f, &["pd", "slack"], Fixture::controller).await;
    let mut rng = Rng::seeded();
    let mut kills: Vec<SystemTime> = vec![];
    let mut last_good = "app:v1".to_string();
    for release in 0..6 {
        let bad = release % 2 == 1;
        let image = format!("app:r{release}");
        f.metrics("app", "canary", 50.0, if bad { 0.5 } else { 0.0 })
            .await;
        if !bad {
            // The canary series is per track: the last bad canary's errors must leave the
            // gate's 5 s window first, or the good release would be judged on them.
            canary_error_ratio_below(&f, 0.01).await;
        }
        f.set_image("app", &image).await;
        for _ in 0..5 {
            tokio::time::sleep(rng.millis(300, 4000)).await;
            c.kill();
            kills.push(SystemTime::now());
            tokio::time::sleep(rng.millis(0, 1500)).await;
            c.restart();
        }
        let want = if bad {
            Phase::RolledBack
        } else {
            Phase::Healthy
        };
        let serving = if bad {
            last_good.clone()
        } else {
            image.clone()
        };
        f.wait(
            &format!("release {release} ({image}) to end {want:?}"),
            2 * MINUTE,
            || async {
                let r = f.rollout("app").await;
                let st = r.status.as_ref()?;
                let pods = f.ready_pods("app").await;
                let settled = st.phase == want
                    && pods.len() == 4
                    && pods
                        .iter()
                        .all(|(_, track, _, i)| track == "stable" && *i == serving);
                settled.then_some(())
            },
        )
        .await;
        let st = f.rollout("app").await.status.unwrap();
        let started = st
            .history
            .iter()
            .rposition(|h| h.reason == "CanaryStarted")
            .expect("the release started a canary");
        let stages: Vec<&str> = st.history[started..]
            .iter()
            .filter(|h| h.reason == "StageStarted")
            .map(|h| h.message.as_str())
            .collect();
        let expected: &[&str] = if bad {
            &["stage 1/2: canary weight 25%"]
        } else {
            &[
                "stage 1/2: canary weight 25%",
                "stage 2/2: canary weight 100%",
            ]
        };
        assert_eq!(
            stages, expected,
            "release {release}: each stage once, in order"
        );
        let promotions = st.history[started..]
            .iter()
            .filter(|h| h.reason == "Promoting")
            .count();
        assert_eq!(promotions, usize::from(!bad), "release {release}");
        if !bad {
            last_good = image;
        }
    }
    assert_eq!(kills.len(), 30);

    // One incident per bad revision, each telling one rollback, each delivered.
    let list = f
        .wait("three incidents delivered", MINUTE, || async {
            let list = incidents(&f).list(&ListParams::default()).await.ok()?.items;
            let delivered = |i: &rollgate::api::Incident| {
                i.status.as_ref().is_some_and(|s| {
                    s.deliveries
                        .iter()
                        .filter(|d| d.message == MessageKind::Trigger)
                        .all(|d| d.delivered_at.is_some())
                })
            };
            (list.len() == 3 && list.iter().all(delivered)).then_some(list)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for i in &list {
        let st = i.status.as_ref().unwrap();
        assert_eq!(
            st.occurrences.len(),
            1,
            "{}: {:?}",
            i.name_any(),
            st.timeline
        );
        let detected: SystemTime = std::time::UNIX_EPOCH
            + Duration::from_millis(i.spec.detected_at.as_millisecond() as u64);
        for (channel, receiver, path) in [
            ("pd", &d.pagerduty, "/v2/enqueue"),
            ("slack", &d.slack, "/services/"),
        ] {
            let delivery = st
                .deliveries
                .iter()
                .find(|x| x.channel == channel && x.message == MessageKind::Trigger)
                .unwrap();
            let recorded = delivery.delivered_at.unwrap();
            let recorded: SystemTime =
                std::time::UNIX_EPOCH + Duration::from_millis(recorded.as_millisecond() as u64 + 1);
            let mut sends = arrivals(receiver, path, detected, recorded);
            if channel == "pd" {
                let key = &i.spec.dedup_key;
                let triggers: Vec<SystemTime> = receiver
                    .requests()
                    .into_iter()
                    .filter(|q| {
                        q.path.starts_with(path)
                            && q.json()["event_action"] == "trigger"
                            && q.json()["dedup_key"] == *key
                    })
                    .map(|q| q.at)
                    .collect();
                sends = triggers;
            }
            sent_once_or_resent_after_a_kill(
                &format!("{} to {channel}", i.name_any()),
                &sends,
                recorded,
                &kills,
            );
        }
    }
    f.cleanup().await;
}
