//! A Release to start tests from (feature `fixture` for the controller crate's tests): three
//! waves of one ring each (`ring0`, `half`, `rest`), one cluster at a time, 10 s bakes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::api::{
    ContainerImage, OnFailure, Release, ReleaseRollout, ReleaseSpec, ReleaseTemplate, Wave,
    WaveApproval,
};

/// The app container at `registry.example/web:<tag>`.
pub fn images(tag: &str) -> Vec<ContainerImage> {
    vec![ContainerImage {
        name: "app".into(),
        image: format!("registry.example/web:{tag}"),
    }]
}

pub fn wave(name: &str, ring: &str, on_failure: OnFailure) -> Wave {
    Wave {
        name: name.into(),
        selector: LabelSelector {
            match_labels: Some([("ring".to_string(), ring.to_string())].into()),
            match_expressions: None,
        },
        max_concurrent: Some(1),
        bake: Some("10s".into()),
        timeout: Some("5m".into()),
        failures_allowed: None,
        approval: WaveApproval::Automatic,
        on_failure,
    }
}

pub fn release(on_failure: OnFailure) -> Release {
    let mut r = Release::new(
        "web-2",
        ReleaseSpec {
            rollout: ReleaseRollout {
                namespace: "shop".into(),
                name: "web".into(),
            },
            template: ReleaseTemplate {
                containers: images("2"),
            },
            waves: vec![
                wave("ring0", "0", on_failure),
                wave("half", "1", on_failure),
                wave("rest", "2", on_failure),
            ],
            incident: None,
        },
    );
    r.metadata.namespace = Some("fleet".into());
    r.metadata.generation = Some(1);
    r
}
