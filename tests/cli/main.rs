//! The `rollgate` binary end to end: every command run as a process against the real platform
//! (each test has its own namespace and its own controller process), asserting on what it
//! prints and on what it changed in the cluster. Also the shipped Grafana dashboard and the
//! Argo CD health checks of docs/GITOPS.md.

mod controls;
mod dashboard;
mod freeze;
mod gitops;
mod golden;
mod incidents;
mod offline;
mod references;
mod support;
mod terminal;
mod views;
