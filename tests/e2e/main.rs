//! End-to-end tests against the real platform: kube-apiserver, controller-manager, scheduler,
//! etcd and KWOK built from source, and Debian's Prometheus. Each test has its own namespace
//! and its own controller process.

mod adoption;
mod autoscaling;
mod config;
mod controls;
mod crashes;
mod freeze;
mod gateway;
mod incidents;
mod judges;
mod judges_continuous;
mod members;
mod platform;
mod readiness;
mod references;
mod release;
mod resilience;
mod schema;
mod support;
mod surface;
mod tracks;
mod traffic;
mod waves;
