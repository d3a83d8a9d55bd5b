//! `crds/` is generated from the Rust types; this fails when it drifts.

#[test]
fn crds_dir_matches_the_rust_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/rollgate.dev.yaml");
    let on_disk = std::fs::read_to_string(path).expect("crds/rollgate.dev.yaml exists");
    assert!(
        on_disk == rollgate::api::crds_yaml(),
        "crds/ drifted from the types in src/api: run `cargo run -- crds > crds/rollgate.dev.yaml`"
    );
}
