//! `rollgate freeze`, `unfreeze` and `freezes`: the kill switch from the command line.
//!
//! The CLI keeps one cluster-scoped [`Freeze`] per target, named after it
//! (`rollgate-freeze-<namespace>`, or `rollgate-freeze-all` for every namespace), written with
//! server-side apply so freezing twice updates the same object (e.g. adds `--abort`), and
//! deleted by `unfreeze`. Freezes made by hand (or by other tools) are listed too, and
//! `unfreeze` says when one of them still covers the namespace.

use jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde::Serialize;

use super::cluster::Cluster;
use super::incidents::who;
use super::{CliError, Output, Scope, table};
use crate::api::{Freeze, FreezeSpec};

/// Field manager of the CLI's server-side applies.
pub const FIELD_MANAGER: &str = "rollgate-cli";
/// The label the CLI puts on the Freezes it makes.
pub const MANAGED_BY: (&str, &str) = (crate::api::keys::MANAGED_BY, "rollgate-cli");

/// What one CLI Freeze covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// Every namespace (`--all`).
    All,
    Namespace(String),
}

impl Target {
    /// The Freeze's name: `rollgate-freeze-<namespace>` or `rollgate-freeze-all`.
    ///
    /// Namespaces are DNS labels (at most 63 characters), so the name is always a valid object
    /// name; and no namespace named `all` can be confused with `--all`, because its Freeze
    /// would be the same object: `--all` wins that one name (see [`targets`]).
    pub fn freeze_name(&self) -> String {
        match self {
            Target::All => "rollgate-freeze-all".into(),
            Target::Namespace(ns) => format!("rollgate-freeze-{ns}"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::All => "every namespace".into(),
            Target::Namespace(ns) => format!("namespace {ns}"),
        }
    }

    fn flag(&self) -> String {
        match self {
            Target::All => "--all".into(),
            Target::Namespace(ns) => format!("-n {ns}"),
        }
    }
}

/// The targets of `--namespace NS ...`/`--all`, or the context's namespace when neither is
/// given; sorted, without duplicates.
pub fn targets(
    namespaces: &[String],
    all: bool,
    default_namespace: &str,
) -> Result<Vec<Target>, CliError> {
    if all {
        if !namespaces.is_empty() {
            return Err(CliError::Usage(
                "--all and --namespace exclude each other".into(),
            ));
        }
        return Ok(vec![Target::All]);
    }
    let mut out: Vec<Target> = if namespaces.is_empty() {
        vec![Target::Namespace(default_namespace.to_string())]
    } else {
        namespaces
            .iter()
            .map(|n| Target::Namespace(n.clone()))
            .collect()
    };
    for t in &out {
        if let Target::Namespace(ns) = t
            && crate::api::names::dns_label(ns).is_err()
        {
            return Err(CliError::Usage(format!("{ns:?} is not a namespace name")));
        }
        if *t == Target::Namespace("all".into()) {
            return Err(CliError::Usage(
                "namespace \"all\" would share the name rollgate-freeze-all with --all: freeze it with kubectl"
                    .into(),
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The Freeze the CLI applies for `target`.
pub fn freeze_object(target: &Target, abort: bool, reason: Option<String>, by: String) -> Freeze {
    let namespaces = match target {
        Target::All => vec![],
        Target::Namespace(ns) => vec![ns.clone()],
    };
    let mut f = Freeze::new(
        &target.freeze_name(),
        FreezeSpec {
            namespaces,
            abort,
            reason: reason.filter(|r| !r.trim().is_empty()),
            by: Some(by),
        },
    );
    f.metadata.labels = Some([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())].into());
    f
}

/// A Freeze as `freeze` prints it and `freezes` lists it.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FreezeRow {
    pub name: String,
    /// Namespaces frozen; empty with `all`.
    pub namespaces: Vec<String>,
    /// Every namespace is frozen.
    pub all: bool,
    pub abort: bool,
    pub by: Option<String>,
    pub reason: Option<String>,
    pub age_seconds: Option<i64>,
}

impl FreezeRow {
    pub fn new(f: &Freeze, now: Timestamp) -> FreezeRow {
        FreezeRow {
            name: f.name_any(),
            namespaces: f.spec.namespaces.clone(),
            all: f.spec.namespaces.is_empty(),
            abort: f.spec.abort,
            by: f.spec.by.clone(),
            reason: f.spec.reason.clone(),
            age_seconds: f
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| now.as_second() - t.0.as_second()),
        }
    }

    /// Sorted by name, the way kubectl lists.
    pub fn rows(freezes: &[Freeze], now: Timestamp) -> Vec<FreezeRow> {
        let mut rows: Vec<_> = freezes.iter().map(|f| FreezeRow::new(f, now)).collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        rows
    }

    pub fn table(rows: &[FreezeRow]) -> String {
        if rows.is_empty() {
            return "No freezes found.\n".into();
        }
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    if r.all {
                        "<all>".into()
                    } else {
                        r.namespaces.join(",")
                    },
                    r.abort.to_string(),
                    r.by.clone().unwrap_or_else(|| "-".into()),
                    r.age_seconds.map_or("-".into(), table::age),
                    r.reason.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        table::render(
            &["NAME", "NAMESPACES", "ABORT", "BY", "AGE", "REASON"],
            &cells,
        )
    }
}

/// The confirmation of one applied Freeze.
pub fn frozen_human(target: &Target, row: &FreezeRow) -> String {
    let mut out = format!("{} frozen (Freeze {}", target.describe(), row.name);
    if let Some(by) = &row.by {
        out += &format!(" by {by}");
    }
    if let Some(reason) = &row.reason {
        out += &format!(": {reason}");
    }
    out += "): no rollout there advances and no canary starts";
    if row.abort {
        out += "; canaries in flight roll back now";
    }
    out += &format!("; lift it with `rollgate unfreeze {}`\n", target.flag());
    out
}

/// What `unfreeze` did for one target.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Unfrozen {
    pub name: String,
    /// The namespace, or `None` for `--all`.
    pub namespace: Option<String>,
    /// False when there was no such Freeze (not an error).
    pub deleted: bool,
    /// Other Freezes that still cover the namespace.
    pub still_frozen_by: Vec<String>,
}

/// Other Freezes (not `deleted`) covering the target's namespace. For `--all`: none is
/// reported, namespace Freezes are separate decisions.
pub fn still_frozen_by(target: &Target, deleted: &str, freezes: &[Freeze]) -> Vec<String> {
    let Target::Namespace(ns) = target else {
        return vec![];
    };
    let mut names: Vec<String> = freezes
        .iter()
        .filter(|f| f.name_any() != deleted && f.metadata.deletion_timestamp.is_none())
        .filter(|f| f.covers(ns))
        .map(|f| f.name_any())
        .collect();
    names.sort();
    names
}

pub fn unfrozen_human(u: &Unfrozen) -> String {
    let what = match &u.namespace {
        Some(ns) => format!("namespace {ns}"),
        None => "every namespace".into(),
    };
    let mut out = if u.deleted {
        format!("{what} unfrozen (Freeze {} deleted)", u.name)
    } else {
        format!("{what} was not frozen by the CLI (no Freeze {})", u.name)
    };
    if !u.still_frozen_by.is_empty() {
        out += &format!("; still frozen by {}", u.still_frozen_by.join(", "));
    }
    out + "\n"
}

fn api(cluster: &Cluster) -> Api<Freeze> {
    Api::all(cluster.client.clone())
}

async fn list_all(cluster: &Cluster) -> Result<Vec<Freeze>, CliError> {
    Ok(api(cluster)
        .list(&ListParams::default())
        .await
        .map_err(|e| CliError::listing("freezes", &cluster.namespace, e))?
        .items)
}

/// The connection for commands that take `--context` but pick namespaces themselves.
async fn connect(context: Option<String>, output: Output) -> Result<Cluster, CliError> {
    Cluster::connect(&Scope {
        namespace: None,
        context,
        output,
    })
    .await
}

pub async fn freeze(args: super::FreezeArgs) -> Result<(), CliError> {
    let by = who(args.by, std::env::var("USER").ok())?;
    let cluster = connect(args.context, args.output).await?;
    let targets = targets(&args.namespaces, args.all, &cluster.namespace)?;
    let now = Timestamp::now();
    let mut applied = Vec::new();
    for target in &targets {
        let object = freeze_object(target, args.abort, args.reason.clone(), by.clone());
        let name = target.freeze_name();
        let f = api(&cluster)
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&object),
            )
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) if s.code == 404 => CliError::NotInstalled {
                    resource: "freezes".into(),
                },
                e => CliError::Kube {
                    what: format!("applying Freeze {name}"),
                    source: Box::new(e),
                },
            })?;
        applied.push((target.clone(), FreezeRow::new(&f, now)));
    }
    let rows: Vec<FreezeRow> = applied.iter().map(|(_, r)| r.clone()).collect();
    args.output.print(&rows, |_| {
        applied.iter().map(|(t, r)| frozen_human(t, r)).collect()
    })
}

pub async fn unfreeze(args: super::UnfreezeArgs) -> Result<(), CliError> {
    let cluster = connect(args.context, args.output).await?;
    let targets = targets(&args.namespaces, args.all, &cluster.namespace)?;
    let mut done = Vec::new();
    for target in &targets {
        let name = target.freeze_name();
        let deleted = match api(&cluster).delete(&name, &DeleteParams::default()).await {
            Ok(_) => true,
            Err(kube::Error::Api(s)) if s.code == 404 => false,
            Err(e) => {
                return Err(CliError::Kube {
                    what: format!("deleting Freeze {name}"),
                    source: Box::new(e),
                });
            }
        };
        done.push((target.clone(), name, deleted));
    }
    let remaining = list_all(&cluster).await?;
    let out: Vec<Unfrozen> = done
        .into_iter()
        .map(|(target, name, deleted)| Unfrozen {
            still_frozen_by: still_frozen_by(&target, &name, &remaining),
            namespace: match &target {
                Target::All => None,
                Target::Namespace(ns) => Some(ns.clone()),
            },
            name,
            deleted,
        })
        .collect();
    args.output
        .print(&out, |us| us.iter().map(unfrozen_human).collect())
}

pub async fn list(context: Option<String>, output: Output) -> Result<(), CliError> {
    let cluster = connect(context, output).await?;
    let rows = FreezeRow::rows(&list_all(&cluster).await?, Timestamp::now());
    output.print(&rows, |rows| FreezeRow::table(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(n: &str) -> Target {
        Target::Namespace(n.into())
    }

    #[test]
    fn targets_default_to_the_context_namespace_and_are_deduplicated() {
        assert_eq!(targets(&[], false, "shop").unwrap(), vec![ns("shop")]);
        assert_eq!(targets(&[], true, "shop").unwrap(), vec![Target::All]);
        let many = ["b".to_string(), "a".into(), "b".into()];
        assert_eq!(
            targets(&many, false, "shop").unwrap(),
            vec![ns("a"), ns("b")]
        );
        assert!(targets(&many, true, "shop").is_err());
        assert!(targets(&["Bad_NS".into()], false, "x").is_err());
        assert!(targets(&["all".into()], false, "x").is_err());
    }

    #[test]
    fn freeze_names_follow_the_target() {
        assert_eq!(ns("shop").freeze_name(), "rollgate-freeze-shop");
        assert_eq!(Target::All.freeze_name(), "rollgate-freeze-all");
        let longest = "a".repeat(63);
        assert!(ns(&longest).freeze_name().len() <= 253);
    }

    #[test]
    fn the_applied_object_is_a_complete_freeze_with_the_cli_label() {
        let f = freeze_object(
            &ns("shop"),
            true,
            Some("payments outage".into()),
            "alice".into(),
        );
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "apiVersion": "rollgate.dev/v1alpha1", "kind": "Freeze",
                "metadata": {"name": "rollgate-freeze-shop", "labels": {"app.kubernetes.io/managed-by": "rollgate-cli"}},
                "spec": {"namespaces": ["shop"], "abort": true, "reason": "payments outage", "by": "alice"}
            })
        );
        let all = freeze_object(&Target::All, false, Some(" ".into()), "bob".into());
        let v = serde_json::to_value(&all).unwrap();
        // abort: false is sent so re-freezing without --abort turns it off again.
        assert_eq!(v["spec"], serde_json::json!({"abort": false, "by": "bob"}));
        assert!(all.covers("anything"));
    }

    fn freeze(name: &str, namespaces: &[&str]) -> Freeze {
        let mut f = Freeze::new(
            name,
            FreezeSpec {
                namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
                by: Some("alice".into()),
                ..Default::default()
            },
        );
        f.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            Timestamp::from_second(1_000).unwrap(),
        ));
        f
    }

    #[test]
    fn the_list_shows_all_for_an_empty_namespace_list() {
        let rows = FreezeRow::rows(
            &[freeze("z", &["shop", "pay"]), freeze("a", &[])],
            Timestamp::from_second(1_300).unwrap(),
        );
        assert_eq!(
            FreezeRow::table(&rows),
            "NAME   NAMESPACES   ABORT   BY      AGE   REASON\n\
             a      <all>        false   alice   5m    -\n\
             z      shop,pay     false   alice   5m    -\n"
        );
        assert_eq!(FreezeRow::table(&[]), "No freezes found.\n");
        assert_eq!(
            serde_json::to_value(&rows[0]).unwrap(),
            serde_json::json!({"name": "a", "namespaces": [], "all": true, "abort": false, "by": "alice", "reason": null, "ageSeconds": 300})
        );
    }

    #[test]
    fn confirmations_say_what_holds_and_how_to_lift_it() {
        let mut row = FreezeRow::new(
            &freeze("rollgate-freeze-shop", &["shop"]),
            Timestamp::from_second(1_000).unwrap(),
        );
        row.reason = Some("payments outage".into());
        row.abort = true;
        assert_eq!(
            frozen_human(&ns("shop"), &row),
            "namespace shop frozen (Freeze rollgate-freeze-shop by alice: payments outage): no rollout there advances and no canary starts; canaries in flight roll back now; lift it with `rollgate unfreeze -n shop`\n"
        );
        let u = Unfrozen {
            name: "rollgate-freeze-shop".into(),
            namespace: Some("shop".into()),
            deleted: true,
            still_frozen_by: vec!["rollgate-freeze-all".into()],
        };
        assert_eq!(
            unfrozen_human(&u),
            "namespace shop unfrozen (Freeze rollgate-freeze-shop deleted); still frozen by rollgate-freeze-all\n"
        );
        let none = Unfrozen {
            deleted: false,
            still_frozen_by: vec![],
            ..u
        };
        assert_eq!(
            unfrozen_human(&none),
            "namespace shop was not frozen by the CLI (no Freeze rollgate-freeze-shop)\n"
        );
    }

    #[test]
    fn other_freezes_covering_the_namespace_are_reported() {
        let freezes = [
            freeze("rollgate-freeze-shop", &["shop"]),
            freeze("everything", &[]),
            freeze("pay-only", &["pay"]),
            freeze("hand-made", &["pay", "shop"]),
        ];
        assert_eq!(
            still_frozen_by(&ns("shop"), "rollgate-freeze-shop", &freezes),
            vec!["everything".to_string(), "hand-made".into()]
        );
        assert!(still_frozen_by(&Target::All, "rollgate-freeze-all", &freezes).is_empty());
    }
}
