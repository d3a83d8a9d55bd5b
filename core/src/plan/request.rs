//! Manual requests: pause, resume, promote, abort, retry.
//!
//! A request is the annotation `rollgate.dev/request: <action>/<id>` on the Rollout. The id makes
//! it idempotent: the planner handles an id once and records it in `status.lastRequestId`, so a
//! controller restart never replays a handled request. Annotations (not spec fields) keep
//! imperative actions out of Git and out of GitOps diffs.

use crate::api::keys::REQUEST;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    /// Skip the current stage's bake and approval (gates must still pass).
    Promote,
    /// Go straight to the last stage, skipping bakes and approvals (gates must still pass).
    PromoteFull,
    Abort,
    Retry,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Promote => "promote",
            Action::PromoteFull => "promote-full",
            Action::Abort => "abort",
            Action::Retry => "retry",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [
            Self::Pause,
            Self::Resume,
            Self::Promote,
            Self::PromoteFull,
            Self::Abort,
            Self::Retry,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub action: Action,
    pub id: String,
}

impl Request {
    pub fn new(action: Action, id: impl Into<String>) -> Self {
        Self {
            action,
            id: id.into(),
        }
    }

    /// The annotation value for this request.
    pub fn encode(&self) -> String {
        format!("{}/{}", self.action.as_str(), self.id)
    }

    /// Parses an annotation value; the error says what a valid one looks like.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (action, id) = value
            .split_once('/')
            .ok_or_else(|| format!("{REQUEST}: {value:?} is not <action>/<id>"))?;
        let action = Action::parse(action).ok_or_else(|| {
            format!("{REQUEST}: unknown action {action:?} (pause, resume, promote, promote-full, abort, retry)")
        })?;
        if id.is_empty() || id.len() > 64 {
            return Err(format!("{REQUEST}: the id must be 1 to 64 characters"));
        }
        Ok(Self {
            action,
            id: id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_the_annotation() {
        for a in [
            Action::Pause,
            Action::Resume,
            Action::Promote,
            Action::PromoteFull,
            Action::Abort,
            Action::Retry,
        ] {
            let r = Request::new(a, "1700000000");
            assert_eq!(Request::parse(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn malformed_requests_say_what_is_expected() {
        assert!(
            Request::parse("promote")
                .unwrap_err()
                .contains("<action>/<id>")
        );
        assert!(
            Request::parse("launch/1")
                .unwrap_err()
                .contains("unknown action")
        );
        assert!(Request::parse("abort/").unwrap_err().contains("id"));
    }
}
