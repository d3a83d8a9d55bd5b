//! The controller image that `hack/image` built (target/image/oci): where it is, what its OCI
//! config says, and its root filesystem unpacked with umoci, as a runtime would lay it out.
//! The checks of what is (and is not) inside it are here too.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The workspace version: the image's tag, the chart's version and appVersion.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The cargo target dir these tests were built into (it honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    // <target>/debug/rollgate
    Path::new(env!("CARGO_BIN_EXE_rollgate"))
        .ancestors()
        .nth(2)
        .expect("the binary lives in <target>/<profile>/")
        .to_path_buf()
}

/// `hack/image`'s OCI layout; `hack/test` builds it before the tests run.
pub fn built_layout() -> PathBuf {
    let layout = target_dir().join("image/oci");
    assert!(
        layout.join("index.json").is_file(),
        "no image at {}: run hack/image (hack/test runs it before the tests)",
        layout.display()
    );
    layout
}

/// The manifest digest `hack/image` printed (`sha256:…`).
pub fn built_digest() -> String {
    let path = target_dir().join("image/digest");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run hack/image)", path.display()))
        .trim()
        .to_string()
}

/// Runs a tool, panicking with its output when it fails; returns stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e} (run hack/setup.sh)"));
    assert!(
        out.status.success(),
        "{program} {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A blob of an OCI layout, as JSON.
fn blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    let path = layout.join("blobs/sha256").join(hex);
    serde_json::from_slice(&std::fs::read(&path).expect("blob")).expect("JSON blob")
}

/// The manifest tagged `tag` in an OCI layout, and its digest.
pub fn manifest(layout: &Path, tag: &str) -> (String, Value) {
    let index = blob_at(&layout.join("index.json"));
    let descriptor = index["manifests"]
        .as_array()
        .expect("index.json lists manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no manifest tagged {tag} in {}", layout.display()))
        .clone();
    let digest = descriptor["digest"].as_str().unwrap().to_string();
    (digest.clone(), blob(layout, &digest))
}

/// The image config (`config` of the OCI image spec: User, Entrypoint, Cmd, Env, …).
pub fn image_config(layout: &Path, tag: &str) -> Value {
    let (_, manifest) = manifest(layout, tag);
    let digest = manifest["config"]["digest"]
        .as_str()
        .expect("config digest");
    blob(layout, digest)["config"].clone()
}

fn blob_at(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read JSON")).expect("JSON")
}

/// Unpacks image `tag` of `layout` with umoci into `dest`; returns the root filesystem.
pub fn unpack(layout: &Path, tag: &str, dest: &Path) -> PathBuf {
    let image = format!("{}:{tag}", layout.display());
    run(
        "umoci",
        &["unpack", "--image", &image, dest.to_str().unwrap()],
    );
    dest.join("rootfs")
}

/// Whether an ELF executable asks for a program interpreter (a dynamic loader): a static
/// binary has no PT_INTERP program header.
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (entry_size, entries) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..entries).any(|i| {
        let at = phoff + i * entry_size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == PT_INTERP
    })
}

/// Every regular file and symlink under `root`, relative, sorted.
fn files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                dirs.push(entry.path());
            } else {
                let relative = entry.path().strip_prefix(root).unwrap().to_path_buf();
                found.push(relative.display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn the_image_is_one_static_binary_with_ca_roots_run_as_a_non_root_user_and_no_shell() {
    let layout = built_layout();
    let config = image_config(&layout, VERSION);
    assert_eq!(config["User"], "65532:65532", "a numeric non-root user");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/rollgate"])
    );

    let (digest, manifest) = manifest(&layout, VERSION);
    assert_eq!(digest, built_digest(), "hack/image printed another digest");
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.version"], VERSION);
    for key in ["source", "revision", "created"] {
        let value = annotations[format!("org.opencontainers.image.{key}")]
            .as_str()
            .unwrap_or_default();
        assert!(!value.is_empty(), "annotation {key} missing: {annotations}");
    }

    let dir = tempfile::tempdir().unwrap();
    let rootfs = unpack(&layout, VERSION, &dir.path().join("bundle"));
    assert_eq!(
        files(&rootfs),
        [
            "etc/group",
            "etc/passwd",
            "etc/ssl/certs/ca-certificates.crt",
            "usr/local/bin/rollgate"
        ],
        "the image holds the binary, its CA roots and user names, nothing else (no shell)"
    );
    let binary = std::fs::read(rootfs.join("usr/local/bin/rollgate")).unwrap();
    assert!(
        !has_interpreter(&binary),
        "the binary asks for a dynamic loader, which the image does not have"
    );
    let roots = std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    let count = roots.matches("-----BEGIN CERTIFICATE-----").count();
    assert!(count > 100, "only {count} CA roots in the bundle");
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains(":65532:65532:"), "{passwd}");

    // It runs from its own root as that user, and says which version and revision it is.
    let version = run(
        "chroot",
        &[
            "--userspec=65532:65532",
            rootfs.to_str().unwrap(),
            "/usr/local/bin/rollgate",
            "--version",
        ],
    );
    let revision = run(
        "git",
        &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"],
    );
    assert!(
        version.starts_with(&format!("rollgate {VERSION} (")),
        "{version}"
    );
    let stamped = version
        .trim()
        .rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches(')');
    assert!(
        revision.starts_with(stamped),
        "the image says revision {stamped}, the checkout is at {revision}"
    );
}
