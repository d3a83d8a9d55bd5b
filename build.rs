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
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it points to (a commit),
    // and packed-refs (a branch packed by `git gc`).
    for file in ["HEAD", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", file]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={path}");
    }
}

/// The trimmed output of a successful git command.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
