/// Why a benchmark could not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("platform: {0}")]
    Platform(#[source] Box<rollgate_platform::PlatformError>),
    #[error("kubernetes API, {what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("HTTP, {what}: {source}")]
    Http {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        what: String,
        after: std::time::Duration,
    },
    #[error("the rollgate controller exited: {0}")]
    ControllerExited(String),
    #[error("{0}")]
    Unexpected(String),
}

impl Error {
    /// Stable label for the JSON report.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Platform(_) => "platform",
            Error::Kube { .. } => "kube_api",
            Error::Http { .. } => "http",
            Error::Io { .. } => "io",
            Error::Timeout { .. } => "timeout",
            Error::ControllerExited(_) => "controller_exited",
            Error::Unexpected(_) => "unexpected",
        }
    }

    pub fn kube(what: impl Into<String>, source: kube::Error) -> Error {
        Error::Kube {
            what: what.into(),
            source: Box::new(source),
        }
    }

    pub fn http(what: impl Into<String>, source: reqwest::Error) -> Error {
        Error::Http {
            what: what.into(),
            source,
        }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<rollgate_platform::PlatformError> for Error {
    fn from(e: rollgate_platform::PlatformError) -> Self {
        Error::Platform(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
