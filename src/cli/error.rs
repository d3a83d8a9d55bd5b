/// Why a command could not do its job. Lint problems are not errors: they are its output.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("no usable kubeconfig: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("{what} not found in namespace {namespace}")]
    NotFound { what: String, namespace: String },
    #[error(
        "{resource} are not served by this cluster: are the rollgate CRDs installed? (rollgate crds | kubectl apply --server-side -f -)"
    )]
    NotInstalled { resource: String },
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the output: {0}")]
    Write(#[from] std::io::Error),
    #[error("encoding the output: {0}")]
    Encode(String),
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// Stable label of the failure kind.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Kube { .. } => "kube",
            Self::NotFound { .. } => "not_found",
            Self::NotInstalled { .. } => "not_installed",
            Self::Read { .. } => "read",
            Self::Write(_) => "write",
            Self::Encode(_) => "encode",
            Self::Usage(_) => "usage",
        }
    }

    /// A kube error listing `resource`; a 404 means the CRD is missing.
    pub fn listing(resource: &str, namespace: &str, source: kube::Error) -> Self {
        match &source {
            kube::Error::Api(status) if status.code == 404 => Self::NotInstalled {
                resource: resource.to_string(),
            },
            _ => Self::kube(format!("listing {resource}"), namespace, source),
        }
    }

    /// A kube error about `what`; a 404 becomes [`CliError::NotFound`].
    pub fn kube(what: impl Into<String>, namespace: &str, source: kube::Error) -> Self {
        let what = what.into();
        match &source {
            kube::Error::Api(status) if status.code == 404 => Self::NotFound {
                what,
                namespace: namespace.to_string(),
            },
            _ => Self::Kube {
                what,
                source: Box::new(source),
            },
        }
    }
}
