//! Jira Service Management ops alerts (the Opsgenie successor): the integration events API
//! takes Opsgenie's alert shapes and `GenieKey` auth at an Atlassian base URL, which every
//! site has its own of, so `spec.url` is required
//! (e.g. `https://api.atlassian.com/jsm/ops/integration/v2/alerts`). Nothing is skipped.

use super::{ChannelError, Destination, Message, Outgoing, opsgenie};

pub(super) fn build(dest: &Destination, m: &Message<'_>) -> Result<Outgoing, ChannelError> {
    opsgenie::build_at(dest, m, None)
}

#[cfg(test)]
mod tests {
    use crate::api::{ChannelType, MessageKind};
    use crate::incident::channels::ChannelError;
    use crate::incident::channels::fixture::{self, destination};

    const BASE: &str = "https://api.atlassian.com/jsm/ops/integration/v2/alerts";

    #[test]
    fn creates_alerts_at_the_integration_endpoint_with_genie_key() {
        let out = fixture::render(
            &destination(ChannelType::Jsm),
            &fixture::incident(),
            MessageKind::Trigger,
            "i",
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.url, BASE);
        assert_eq!(
            out.header("Authorization"),
            Some(format!("GenieKey {}", fixture::API_KEY).as_str())
        );
        let body = out.json();
        assert_eq!(body["alias"], "rollgate/shop/checkout/91be02");
        assert_eq!(body["priority"], "P2");
        assert!(body["message"].as_str().unwrap().chars().count() <= 130);
    }

    #[test]
    fn acknowledges_and_closes_by_alias() {
        for (message, action) in [
            (MessageKind::Acknowledge, "acknowledge"),
            (MessageKind::Resolve, "close"),
        ] {
            let out = fixture::render(
                &destination(ChannelType::Jsm),
                &fixture::incident(),
                message,
                "i",
            )
            .unwrap()
            .unwrap();
            assert_eq!(
                out.url,
                format!("{BASE}/rollgate%2Fshop%2Fcheckout%2F91be02/{action}?identifierType=alias")
            );
        }
    }

    #[test]
    fn url_is_required() {
        let mut dest = destination(ChannelType::Jsm);
        dest.url = None;
        let err =
            fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i").unwrap_err();
        assert_eq!(
            err,
            ChannelError::MissingUrl {
                channel: "jsm".into()
            }
        );
    }
}
