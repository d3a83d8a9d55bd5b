//! The e2e tests' fixture is the workspace's one test kit.

pub use rollgate_testkit::*;
