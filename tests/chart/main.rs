//! The Helm chart in `charts/rollgate`: its CRDs are the generated ones, `helm lint` and the
//! values schema hold, what it renders is restricted and least-privilege, and — installed
//! into the real platform — its ServiceAccount has exactly the rights the controller needs
//! (cluster-wide, or in the watched namespace only), its admission policy refuses the writes
//! RBAC cannot narrow, and those rights are enough to take a release through with nothing else.
//!
//! The image too: what `hack/image` put in it, and — pushed with the chart to a local OCI
//! registry, installed from there — that it runs as the chart runs it.
//!
//! helm is built from the Go module pinned in `hack/platform/helm` (cached, like the control
//! plane); `ROLLGATE_HELM` names another binary.

mod bundle;
mod chroot_pod;
mod controller;
mod helm;
mod image;
mod install;
mod oci;
mod policy;
mod production;
mod readme;
mod render;

#[test]
fn chart_crds_match_the_rust_types() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/charts/rollgate/crds/rollgate.dev.yaml"
    );
    let on_disk = std::fs::read_to_string(path).expect("charts/rollgate/crds/rollgate.dev.yaml");
    assert!(
        on_disk == rollgate::api::crds_yaml(),
        "the chart's CRDs drifted from src/api: run `cargo run -- crds > charts/rollgate/crds/rollgate.dev.yaml`"
    );
}
