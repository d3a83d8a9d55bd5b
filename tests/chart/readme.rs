//! The README's "Install into a real cluster" commands, as written: the `helm install` line
//! renders with the chart (every `--set` is a value the schema knows, the digest pins the
//! image). Pushing as shown is what `oci.rs` does against a local registry.

use crate::helm;
use crate::image::built_digest;

/// The shell commands of the section's first `sh` block, continuation lines joined.
fn install_commands() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("## Install into a real cluster")
        .nth(1)
        .expect("the README has an install section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block in the install section");
    block
        .replace("\\\n", " ")
        .lines()
        .map(|l| l.split(" #").next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_readmes_helm_install_renders_the_image_pinned_by_digest() {
    let commands = install_commands();
    let install = commands
        .iter()
        .find(|c| c.starts_with("helm install "))
        .expect("a helm install command");
    let digest = built_digest();
    let install = install.replace("sha256:<the digest hack/image printed>", &digest);
    let words: Vec<&str> = install.split_whitespace().collect();
    // `helm install NAME CHART …` rendered as `helm template NAME CHART …`, from the checkout.
    assert_eq!(words[3], "charts/rollgate");
    let chart = helm::chart_dir();
    let mut args = vec!["template", words[2], chart.to_str().unwrap()];
    args.extend(words[4..].iter().filter(|w| **w != "--create-namespace"));
    let yaml = helm::run(&args).unwrap_or_else(|e| panic!("{install}\n{e}"));
    let repository = words
        .iter()
        .find_map(|w| w.strip_prefix("image.repository="))
        .expect("the README sets image.repository");
    assert!(
        yaml.contains(&format!("image: \"{repository}@{digest}\"")),
        "the image is not pinned by digest:\n{yaml}"
    );
}
