//! The demo: a local control plane, the rollgate controller, a good release promoted stage by
//! stage, then a bad release rolled back by itself, narrated as it happens.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use rollgate::api::{DeliveryState, Incident, IncidentChannel, Phase, Rollout, RolloutStatus};
use rollgate_platform::{Platform, PlatformOptions, Receiver, Series};
use serde_json::json;

const NS: &str = "shop";

struct Story {
    start: Instant,
}

impl Story {
    fn say(&self, line: &str) {
        let t = self.start.elapsed().as_secs_f64();
        println!("[{t:6.1}s] {line}");
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let story = Story {
        start: Instant::now(),
    };
    story.say("Starting a local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, KWOK nodes) and Prometheus…");
    let platform = Platform::start(PlatformOptions::default())
        .await
        .context("starting the local platform")?;
    let env = platform.env().clone();
    story.say(&format!(
        "Platform up: API server {}, Prometheus {}",
        env.apiserver_url, env.prometheus_url
    ));
    let client = env.client().await;
    let result = run(&story, &client, &env).await;
    story.say("Tearing everything down…");
    platform.shutdown().await;
    story.say("Done.");
    result
}

async fn run(story: &Story, client: &Client, env: &rollgate_platform::PlatformEnv) -> Result<()> {
    rollgate::controller::crds::install(client, "rollgate-demo").await?;
    story.say("Installed the Rollout CRD.");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;

    let controller = tokio::spawn(rollgate::controller::run(
        client.clone(),
        rollgate::controller::Settings {
            prometheus_url: Some(env.prometheus_url.clone()),
            namespace: Some(NS.into()),
            instance: Some("demo".into()),
            ..Default::default()
        },
        Default::default(),
        Default::default(),
        std::future::pending(),
    ));
    story.say("Started the rollgate controller.");

    let exporter = env.exporter();
    for track in ["stable", "canary"] {
        exporter
            .set(
                &Series::new(NS, "checkout", track, "any")
                    .rps(100.0)
                    .error_ratio(0.001),
            )
            .await?;
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "checkout"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "checkout"}},
                 "template": {"metadata": {"labels": {"app": "checkout"}},
                              "spec": {"containers": [{"name": "app", "image": "shop/checkout:1.0"}]}}}
    });
    deployments
        .create(&PostParams::default(), &serde_json::from_value(deployment)?)
        .await?;
    story.say("Created Deployment shop/checkout (4 pods of shop/checkout:1.0), as a team keeps it in Git.");

    // An on-call webhook (a local receiver standing in for PagerDuty/Slack/…), signed per the
    // Standard Webhooks spec, and the real Alertmanager.
    let pager = Receiver::start()?;
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "oncall-webhook"},
        "stringData": {"signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}))?;
    Api::<Secret>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await?;
    let channels: Api<IncidentChannel> = Api::namespaced(client.clone(), NS);
    for (name, spec) in [
        (
            "oncall",
            json!({"type": "webhook", "url": pager.url(), "secretRef": {"name": "oncall-webhook"}}),
        ),
        (
            "alertmanager",
            json!({"type": "alertmanager", "url": env.alertmanager_url}),
        ),
    ] {
        let c = json!({"apiVersion": "rollgate.dev/v1alpha1", "kind": "IncidentChannel", "metadata": {"name": name}, "spec": spec});
        channels
            .create(&PostParams::default(), &serde_json::from_value(c)?)
            .await?;
    }
    story.say(
        "Created IncidentChannels: a signed on-call webhook (local receiver) and Alertmanager.",
    );

    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), NS);
    let rollout = json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "Rollout", "metadata": {"name": "checkout"},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": "checkout"},
            "replicas": 4,
            "stages": [{"weight": 25, "bake": "5s"}, {"weight": 50, "bake": "5s"}, {"weight": 100, "bake": "3s"}],
            "gates": [{
                "name": "error-ratio",
                "query": "sum(rate(http_requests_total{namespace=\"{{namespace}}\",rollgate_track=\"{{track}}\",code=~\"5..\"}[5s])) / sum(rate(http_requests_total{namespace=\"{{namespace}}\",rollgate_track=\"{{track}}\"}[5s]))",
                "max": 0.02, "interval": "1s", "failureLimit": 2
            }],
            "verifyAfterRollback": "10s",
            "incident": {"severity": "sev2", "owner": "team-payments", "runbook": "https://runbooks.example/checkout",
                         "channels": ["oncall", "alertmanager"]}
        }
    });
    rollouts
        .create(&PostParams::default(), &serde_json::from_value(rollout)?)
        .await?;
    story.say("Applied Rollout shop/checkout: stages 25% → 50% → 100%, gate error-ratio ≤ 2%.");
    watch(story, &rollouts, Phase::Healthy, Duration::from_secs(90)).await?;
    tokio::time::sleep(Duration::from_secs(6)).await; // let Prometheus see both tracks' rates
    pods(story, client).await?;

    story.say("— A good release: the image becomes shop/checkout:1.1 —");
    let before = rollouts
        .get("checkout")
        .await?
        .status
        .unwrap_or_default()
        .stable_revision;
    set_image(&deployments, "shop/checkout:1.1").await?;
    canary_started(&rollouts, &before).await?;
    let st = watch(story, &rollouts, Phase::Healthy, Duration::from_secs(120)).await?;
    story.say(&format!(
        "Promoted: revision {} serves everywhere.",
        st.stable_revision.unwrap_or_default()
    ));
    pods(story, client).await?;

    story.say("— A bad release: shop/checkout:1.2 answers 30% of requests with 5xx —");
    exporter
        .set(
            &Series::new(NS, "checkout", "canary", "any")
                .rps(100.0)
                .error_ratio(0.3),
        )
        .await?;
    let before = rollouts
        .get("checkout")
        .await?
        .status
        .unwrap_or_default()
        .stable_revision;
    set_image(&deployments, "shop/checkout:1.2").await?;
    canary_started(&rollouts, &before).await?;
    let st = watch(
        story,
        &rollouts,
        Phase::RolledBack,
        Duration::from_secs(120),
    )
    .await?;
    if let Some(rb) = st.rollback {
        story.say(&format!(
            "Rolled back by itself ({}) at stage {} ({}%):",
            rb.reason,
            rb.stage_index + 1,
            rb.weight
        ));
        for g in rb.gates {
            story.say(&format!(
                "  gate {}: value {:.3} against {} ({} failures in a row)",
                g.name,
                g.value.unwrap_or(f64::NAN),
                g.threshold.unwrap_or_default(),
                g.consecutive_failures
            ));
            story.say(&format!("  query: {}", g.query.unwrap_or_default()));
        }
    }
    pods(story, client).await?;
    incident(story, client, &pager, env).await?;
    controller.abort();
    Ok(())
}

/// The incident the rollback opened, its deliveries, and the post-mortem draft.
async fn incident(
    story: &Story,
    client: &Client,
    pager: &Receiver,
    env: &rollgate_platform::PlatformEnv,
) -> Result<()> {
    let incidents: Api<Incident> = Api::namespaced(client.clone(), NS);
    let start = Instant::now();
    let i = loop {
        if let Some(i) = incidents
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .next()
        {
            let st = i.status.clone().unwrap_or_default();
            if st
                .deliveries
                .iter()
                .all(|d| d.state == DeliveryState::Delivered)
                && !st.deliveries.is_empty()
            {
                break i;
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("the incident was not delivered within a minute");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let st = i.status.clone().unwrap_or_default();
    story.say(&format!(
        "Incident {} ({:?}, {:?}): {}",
        i.name_any(),
        st.state,
        st.severity.unwrap_or(i.spec.severity),
        i.spec.title
    ));
    for d in &st.deliveries {
        let after = d
            .first_attempt_at
            .map(|t| t.duration_since(i.spec.detected_at))
            .unwrap_or_default();
        story.say(&format!("  {:?} → {}: {:?} after {} attempt(s), first attempt {:.0} ms after the rollback decision", d.message, d.channel, d.state, d.attempts, after.as_secs_f64() * 1000.0));
    }
    let hooks = pager.requests();
    if let Some(h) = hooks.first() {
        let ok = rollgate::incident::channels::verify_standard_webhook(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            h.header("webhook-id").unwrap_or_default(),
            h.header("webhook-timestamp").unwrap_or_default(),
            &h.body,
            h.header("webhook-signature").unwrap_or_default(),
        );
        story.say(&format!(
            "The on-call receiver got {} request(s); the webhook signature verifies: {ok}.",
            hooks.len()
        ));
    }
    let alerts: Vec<serde_json::Value> =
        reqwest::get(format!("{}/api/v2/alerts", env.alertmanager_url))
            .await?
            .json()
            .await?;
    story.say(&format!(
        "Alertmanager shows {} firing alert(s) for the rollback.",
        alerts
            .iter()
            .filter(|a| a["labels"]["namespace"] == NS)
            .count()
    ));
    story.say("The post-mortem draft (`rollgate postmortem`), first lines:");
    for line in rollgate::incident::postmortem::render(&i).lines().take(24) {
        println!("          │ {line}");
    }
    Ok(())
}

/// Prints every change of phase, stage and gate values until `until` (or fails after `timeout`).
async fn watch(
    story: &Story,
    api: &Api<Rollout>,
    until: Phase,
    timeout: Duration,
) -> Result<RolloutStatus> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let st = api.get("checkout").await?.status.unwrap_or_default();
        let stage = st
            .stage
            .as_ref()
            .map(|s| format!(" stage {} at {}%", s.index + 1, s.weight))
            .unwrap_or_default();
        let gates: Vec<String> = st
            .gates
            .iter()
            .map(|g| {
                format!(
                    "{}={:?}{}",
                    g.name,
                    g.verdict,
                    g.value.map(|v| format!(" ({v:.3})")).unwrap_or_default()
                )
            })
            .collect();
        let line = format!(
            "{:?}{stage}: {}",
            st.phase,
            st.message.clone().unwrap_or_default()
        );
        let line = if gates.is_empty() {
            line
        } else {
            format!("{line} [{}]", gates.join(", "))
        };
        if line != last {
            story.say(&line);
            last = line;
        }
        if st.phase == until {
            return Ok(st);
        }
        if start.elapsed() > timeout {
            bail!("the rollout did not reach {until:?} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the controller has taken up a revision other than `stable`.
async fn canary_started(api: &Api<Rollout>, stable: &Option<String>) -> Result<()> {
    for _ in 0..100 {
        let st = api.get("checkout").await?.status.unwrap_or_default();
        if st.canary_revision.is_some()
            && st.canary_revision != *stable
            && st.phase != Phase::Healthy
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the controller did not start a canary for the new revision")
}

async fn pods(story: &Story, client: &Client) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for p in pods
        .list(&ListParams::default().labels("app=checkout"))
        .await?
        .items
    {
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if !ready || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let track = p
            .labels()
            .get("rollgate.dev/track")
            .cloned()
            .unwrap_or_else(|| "(original)".into());
        let image = p
            .spec
            .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
            .unwrap_or_default();
        *by.entry(format!("{track} {image}")).or_default() += 1;
    }
    let summary: Vec<String> = by.into_iter().map(|(k, n)| format!("{n}× {k}")).collect();
    story.say(&format!("Ready pods: {}", summary.join(", ")));
    Ok(())
}

async fn set_image(api: &Api<Deployment>, image: &str) -> Result<()> {
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
    api.patch(
        "checkout",
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await?;
    Ok(())
}
