//! Stamps the git revision into the binary, so `rollgate --version` names the exact source
//! an image or a release bundle was built from (the version alone repeats across commits).

use std::process::Command;

fn main() {
    // A build from a source archive (no git) can still be stamped by the packager.
    println!("cargo:rerun-if-env-changed=ROLLGATE_REVISION");
    let revision = std::env::var("ROLLGATE_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=ROLLGATE_REVISION={revision}");
    // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch it points to (a
    // commit; packing refs deletes the loose file, which counts as a change). Only files that
    // exist: cargo reruns the script on every build for a missing one.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD"].into_iter().chain(branch.as_deref()) {
        if let Some(path) = git(&["rev-parse", "--git-path", name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// The trimmed output of a successful git command.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
