//! The CLI tests' fixture is the workspace's one test kit (its `cli` part runs the binary).

pub use rollgate_testkit::*;
