//! Why bringing up (or using) the platform failed, phrased so that a reader of
//! a failed CI log knows which process broke and sees the end of its log.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting or driving the platform.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// `hack/platform/build.sh` failed or printed no bin dir.
    #[error("building the control-plane binaries failed: {0}")]
    Build(String),

    /// A binary the platform needs is not installed.
    #[error("{binary} not found at {path}: {hint}")]
    MissingBinary {
        binary: &'static str,
        path: PathBuf,
        hint: &'static str,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{process} exited early ({status}); log {log}:\n{tail}")]
    Exited {
        process: String,
        status: String,
        log: PathBuf,
        tail: String,
    },

    #[error("{process} was not ready after {waited:?} ({last}); log {log}:\n{tail}")]
    NotReady {
        process: String,
        waited: Duration,
        last: String,
        log: PathBuf,
        tail: String,
    },

    #[error("{context}: {source}")]
    Kube {
        context: String,
        #[source]
        source: Box<kube::Error>,
    },

    #[error("{context}: {source}")]
    Http {
        context: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("generating certificates: {0}")]
    Certificate(#[from] rcgen::Error),

    #[error("{context}: {message}")]
    Invalid { context: String, message: String },
}

impl PlatformError {
    /// A stable, low-cardinality name for the kind of failure.
    pub fn category(&self) -> &'static str {
        match self {
            PlatformError::Build(_) => "Build",
            PlatformError::MissingBinary { .. } => "MissingBinary",
            PlatformError::Io { .. } => "Io",
            PlatformError::Exited { .. } => "ProcessExited",
            PlatformError::NotReady { .. } => "NotReady",
            PlatformError::Kube { .. } => "Kube",
            PlatformError::Http { .. } => "Http",
            PlatformError::Certificate(_) => "Certificate",
            PlatformError::Invalid { .. } => "Invalid",
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        PlatformError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn kube(context: impl Into<String>, source: kube::Error) -> Self {
        PlatformError::Kube {
            context: context.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn http(context: impl Into<String>, source: reqwest::Error) -> Self {
        PlatformError::Http {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid(context: impl Into<String>, message: impl ToString) -> Self {
        PlatformError::Invalid {
            context: context.into(),
            message: message.to_string(),
        }
    }
}
