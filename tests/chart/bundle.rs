//! The release bundle `hack/release` writes (hack/test writes one to target/release-bundle
//! before the tests): every file checksummed, the CRDs the binary generates, a chart that
//! lints, the image that hack/image built, a krew manifest that matches its archive, and an
//! SBOM of the crates Cargo.lock pins.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helm;
use crate::image::{VERSION, built_digest, run, target_dir};

fn bundle() -> PathBuf {
    let dir = target_dir().join(format!("release-bundle/rollgate-{VERSION}"));
    assert!(
        dir.join("SHA256SUMS").is_file(),
        "no bundle at {}: run hack/release (hack/test runs it before the tests)",
        dir.display()
    );
    dir
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn every_file_of_the_release_bundle_is_listed_in_its_checksums_and_matches() {
    let dir = bundle();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut listed = BTreeSet::new();
    for line in sums.lines() {
        let (sum, name) = line.split_once("  ").expect("`<sha256>  <file>` lines");
        assert_eq!(sha256(&dir.join(name)), sum, "{name} does not match");
        listed.insert(name.to_string());
    }
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    assert_eq!(listed, present);
    let expected: BTreeSet<String> = [
        format!("rollgate-{VERSION}.oci.tar"),
        format!("rollgate-{VERSION}.tgz"),
        "crds.yaml".into(),
        format!("rollgate-{VERSION}-linux-amd64.tar.gz"),
        "rollgate.krew.yaml".into(),
        format!("rollgate-{VERSION}.cdx.json"),
    ]
    .into();
    assert_eq!(present, expected);
}

#[test]
fn the_bundles_crds_chart_and_image_are_this_version() {
    let dir = bundle();
    let crds = std::fs::read_to_string(dir.join("crds.yaml")).unwrap();
    assert!(
        crds == rollgate::api::crds_yaml(),
        "crds.yaml differs from `rollgate crds`"
    );

    let chart = dir.join(format!("rollgate-{VERSION}.tgz"));
    let chart = chart.to_str().unwrap();
    helm::run(&["lint", "--strict", chart]).expect("the packaged chart lints");
    let meta: Value =
        serde_norway::from_str(&helm::run(&["show", "chart", chart]).unwrap()).unwrap();
    assert_eq!(meta["version"], VERSION);
    assert_eq!(meta["appVersion"], VERSION);

    let archive = dir.join(format!("rollgate-{VERSION}.oci.tar"));
    let inspected: Value = serde_json::from_str(&run(
        "skopeo",
        &["inspect", &format!("oci-archive:{}", archive.display())],
    ))
    .unwrap();
    assert_eq!(inspected["Digest"], built_digest().as_str());
    assert_eq!(
        inspected["Labels"]["org.opencontainers.image.version"],
        VERSION
    );
}

#[test]
fn the_krew_manifest_installs_the_bundled_static_cli() {
    let dir = bundle();
    let manifest: Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("rollgate.krew.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["metadata"]["name"], "rollgate");
    let spec = &manifest["spec"];
    assert_eq!(spec["version"], format!("v{VERSION}"));
    let short = spec["shortDescription"].as_str().unwrap_or_default();
    assert!(!short.is_empty() && short.len() <= 50, "{short:?}");
    assert!(
        spec["homepage"]
            .as_str()
            .unwrap_or_default()
            .starts_with("https://")
    );
    let platforms = spec["platforms"].as_array().expect("platforms");
    assert_eq!(platforms.len(), 1);
    let platform = &platforms[0];
    assert_eq!(
        platform["selector"]["matchLabels"],
        serde_json::json!({"os": "linux", "arch": "amd64"})
    );
    let archive = format!("rollgate-{VERSION}-linux-amd64.tar.gz");
    let uri = platform["uri"].as_str().unwrap();
    assert!(
        uri.starts_with("https://") && uri.ends_with(&format!("/{archive}")),
        "{uri}"
    );
    assert_eq!(platform["sha256"], sha256(&dir.join(&archive)));

    // krew itself validates the manifest, checks the archive's sha256 and installs `bin` as
    // `kubectl-rollgate` (from the local archive: the uri is not fetched).
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(krew())
        .args(["install", "--manifest"])
        .arg(dir.join("rollgate.krew.yaml"))
        .arg("--archive")
        .arg(dir.join(&archive))
        .env("KREW_ROOT", root.path())
        .output()
        .expect("run krew");
    assert!(
        out.status.success(),
        "krew install: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let plugin = root.path().join("bin/kubectl-rollgate");
    let version = run(plugin.to_str().unwrap(), &["--version"]);
    assert!(
        version.starts_with(&format!("rollgate {VERSION} (")),
        "{version}"
    );
}

/// The krew that `hack/platform/krew/build.sh` builds from its pinned Go module (cached).
fn krew() -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/platform/krew/build.sh");
    let bin = run(script, &[]);
    Path::new(bin.lines().last().expect("build.sh prints the bin dir")).join("krew")
}

/// `(name, version)` of every crate Cargo.lock pins.
fn locked_crates() -> BTreeMap<String, BTreeSet<String>> {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    let mut crates: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for package in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            package
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
                .map(|v| v.trim_end_matches('"').to_string())
        };
        if let (Some(name), Some(version)) = (field("name"), field("version")) {
            crates.entry(name).or_default().insert(version);
        }
    }
    crates
}

#[test]
fn the_sbom_lists_the_binarys_crates_as_cargo_lock_pins_them() {
    let dir = bundle();
    let sbom: Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("rollgate-{VERSION}.cdx.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["metadata"]["component"]["name"], "rollgate");
    let locked = locked_crates();
    let components = sbom["components"].as_array().expect("components");
    let listed: BTreeMap<&str, &str> = components
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["version"].as_str().unwrap()))
        .collect();
    for (name, version) in &listed {
        assert!(
            locked.get(*name).is_some_and(|v| v.contains(*version)),
            "the SBOM lists {name} {version}, which Cargo.lock does not pin"
        );
    }
    // The crates the controller is made of, at their locked versions.
    for name in [
        "kube-client",
        "kube-runtime",
        "k8s-openapi",
        "tokio",
        "rustls",
        "ring",
        "reqwest",
        "hyper",
        "axum",
        "serde",
        "clap",
        "prometheus-client",
        "kube-lease-manager",
        "promql-parser",
        "jiff",
        "rustls-native-certs",
    ] {
        let version = listed
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the SBOM"));
        assert!(locked[name].contains(*version));
    }
    // Test-only crates are not part of the binary.
    for name in ["proptest", "rollgate-platform", "rollgate-testkit", "rcgen"] {
        assert!(!listed.contains_key(name), "{name} is a test dependency");
    }
}
