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
}

impl Error {
    /// Stable label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_api",
            Error::Finalizer(_) => "finalizer",
            Error::HandBackPending(_) => "hand_back_pending",
            Error::TemplateUnavailable(_) => "template_unavailable",
        }
    }
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(Box::new(e))
    }
}
