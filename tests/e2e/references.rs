//! References are checked when written, not at incident time: a Rollout naming a channel that
//! does not exist, or whose Secret does not, says so at once.

use std::time::Duration;

use rollgate::api::Rollout;
use serde_json::json;

use crate::incidents::{channel, secret};
use crate::support::{Fixture, error_ratio_gate};

const MINUTE: Duration = Duration::from_secs(60);

fn channels_ready(r: &Rollout) -> Option<(String, String)> {
    let c = r
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "ChannelsReady")?;
    Some((c.status.clone(), c.message.clone()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_naming_a_missing_channel_or_secret_says_so_until_both_exist() {
    let f = Fixture::new("refs").await;
    f.create_deployment("app", 2, "app:v1").await;
    let mut r = crate::support::rollout(
        "app",
        "app",
        2,
        &[(100, "1s")],
        vec![error_ratio_gate(0.05)],
    );
    r["spec"]["incident"] = json!({"channels": ["pager"]});
    f.create_rollout(r).await;
    let _c = f.controller();
    f.wait_rollout(
        "app",
        "ChannelsReady=False naming the channel",
        MINUTE,
        |r| {
            channels_ready(r).is_some_and(|(s, m)| {
                s == "False" && m.contains("IncidentChannel") && m.contains("pager")
            })
        },
    )
    .await;
    channel(
        &f,
        "pager",
        json!({"type": "pagerduty", "secretRef": {"name": "pd"}}),
    )
    .await;
    f.wait_rollout(
        "app",
        "ChannelsReady=False naming the Secret",
        MINUTE,
        |r| {
            channels_ready(r)
                .is_some_and(|(s, m)| s == "False" && m.contains("Secret") && m.contains("pd"))
        },
    )
    .await;
    secret(
        &f,
        "pd",
        json!({"routingKey": "R0UTINGKEY0000000000000000000000"}),
    )
    .await;
    f.wait_rollout("app", "ChannelsReady=True", MINUTE, |r| {
        channels_ready(r).is_some_and(|(s, _)| s == "True")
    })
    .await;
    f.wait_event("app", "ChannelsNotReady").await;
    f.cleanup().await;
}
