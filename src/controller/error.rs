/// Why a reconcile could not finish; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[source] Box<kube::Error>),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("handing the workload back to {0}: waiting for its pods to become ready")]
    HandBackPending(String),
    #[error("no pod template for revision {0}: the track that held it is gone")]
    TemplateUnavailable(String),
    #[error("{0}")]
    RouteUnusable(String),
    #[error(
        "HTTPRoute {0} changed under every attempt to set its weights; nothing was overwritten"
    )]
    RouteConflict(String),
}

impl Error {
    /// Stable label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_api",
            Error::Finalizer(_) => "finalizer",
            Error::HandBackPending(_) => "hand_back_pending",
            Error::TemplateUnavailable(_) => "template_unavailable",
            Error::RouteUnusable(_) => "route_unusable",
            Error::RouteConflict(_) => "route_conflict",
        }
    }

    /// The same category as a Warning Event's reason, when people should hear of it: waiting
    /// for a hand-back is progress, not a failure.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Error::Kube(_) => Some("KubeApiError"),
            Error::Finalizer(_) => Some("FinalizerError"),
            Error::HandBackPending(_) => None,
            Error::TemplateUnavailable(_) => Some("TemplateUnavailable"),
            Error::RouteUnusable(_) => Some("RouteUnusable"),
            Error::RouteConflict(_) => Some("RouteConflict"),
        }
    }

    /// What the Event says: the category and, for API errors, only the status reason (an API
    /// error's message may quote object content).
    pub fn note(&self) -> String {
        fn api(e: &kube::Error) -> String {
            match e {
                kube::Error::Api(s) => format!("the API server answered {} {}", s.code, s.reason),
                _ => "a request to the API server failed".into(),
            }
        }
        match self {
            Error::Kube(e) => format!("{}; retrying", api(e)),
            Error::Finalizer(_) => "the finalizer could not be updated; retrying".into(),
            other => format!("{other}; retrying"),
        }
    }
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every category has one reason, PascalCase, and the two name the same thing.
    #[test]
    fn categories_and_reasons_agree() {
        let errors = [
            Error::Kube(Box::new(kube::Error::LinesCodecMaxLineLengthExceeded)),
            Error::HandBackPending("web".into()),
            Error::TemplateUnavailable("abc".into()),
            Error::RouteUnusable("HTTPRoute shop not found".into()),
            Error::RouteConflict("shop".into()),
        ];
        for e in &errors {
            let flat = e.category().replace('_', "");
            if let Some(reason) = e.reason() {
                assert!(reason.chars().next().unwrap().is_ascii_uppercase());
                assert!(
                    reason.to_lowercase().starts_with(&flat),
                    "{reason} is not {}",
                    e.category()
                );
            }
        }
    }
}
