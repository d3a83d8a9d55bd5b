//! KWOK plays the kubelet for fake nodes: it keeps the nodes we create Ready
//! (status and lease heartbeats), marks pods scheduled onto them Running and
//! Ready, and finishes the deletion of terminating pods.
//!
//! The standalone `kwok` binary does nothing without Stage objects, so the
//! platform writes its own lifecycle stages into a config file.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Node;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::PlatformError;
use crate::processes::{Process, args};
use crate::work_dir::WorkDir;

pub(crate) const NAME: &str = "kwok";

/// Nodes carrying this annotation are managed by our kwok.
const MANAGED_ANNOTATION: (&str, &str) = ("kwok.x-k8s.io/node", "fake");

/// Label selecting the platform's nodes.
pub const NODE_LABEL: (&str, &str) = ("type", "kwok");

/// Starts kwok with the lifecycle stages; pods get IPs from `10.244.0.0/16`.
pub(crate) fn spawn(
    bin_dir: &Path,
    work: &WorkDir,
    kubeconfig: &Path,
    node_pods: u32,
) -> Result<Process, PlatformError> {
    let config = work.file("kwok.yaml");
    std::fs::write(&config, stages(node_pods))
        .map_err(|e| PlatformError::io("writing the kwok stages", e))?;
    Process::spawn(
        NAME,
        &bin_dir.join(NAME),
        args([
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--config={}", config.display()),
            "--manage-all-nodes=false".to_string(),
            format!(
                "--manage-nodes-with-annotation-selector={}={}",
                MANAGED_ANNOTATION.0, MANAGED_ANNOTATION.1
            ),
            "--node-lease-duration-seconds=40".to_string(),
            "--cidr=10.244.0.0/16".to_string(),
            "--node-ip=127.0.0.1".to_string(),
        ]),
        work.log(NAME),
    )
}

/// Registers `count` nodes named `kwok-node-<i>` for kwok to manage.
pub(crate) async fn create_nodes(client: &Client, count: usize) -> Result<(), PlatformError> {
    let nodes: Api<Node> = Api::all(client.clone());
    for i in 0..count {
        let name = format!("kwok-node-{i}");
        let labels = BTreeMap::from([
            ("kubernetes.io/hostname".to_string(), name.clone()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            ("kubernetes.io/arch".to_string(), "amd64".to_string()),
            (NODE_LABEL.0.to_string(), NODE_LABEL.1.to_string()),
        ]);
        let annotations = BTreeMap::from([
            (
                MANAGED_ANNOTATION.0.to_string(),
                MANAGED_ANNOTATION.1.to_string(),
            ),
            ("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string()),
        ]);
        let node = Node {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            ..Node::default()
        };
        nodes
            .create(&PostParams::default(), &node)
            .await
            .map_err(|e| PlatformError::kube(format!("creating node {name}"), e))?;
    }
    Ok(())
}

/// Ready when all `count` nodes are Ready and untainted, so pods schedule at once.
pub(crate) async fn probe_nodes(client: &Client, count: usize) -> Result<(), String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let selector = format!("{}={}", NODE_LABEL.0, NODE_LABEL.1);
    let list = nodes
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| e.to_string())?;
    let usable = list.items.iter().filter(|node| is_usable(node)).count();
    if usable == count {
        Ok(())
    } else {
        Err(format!(
            "{usable} of {count} nodes Ready without not-ready taints"
        ))
    }
}

fn is_usable(node: &Node) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
    let tainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|taints| {
            taints.iter().any(|t| {
                t.key == "node.kubernetes.io/not-ready" || t.key == "node.kubernetes.io/unreachable"
            })
        });
    ready && !tainted
}

/// The node and pod lifecycle kwok plays: nodes become Ready (and heartbeat),
/// pods on them become Running and Ready, terminating pods are deleted.
fn stages(node_pods: u32) -> String {
    format!(
        r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: rollgate-node-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ["True"]
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      conditions:
      {{{{ range NodeConditions }}}}
      - type: {{{{ .type | Quote }}}}
        status: {{{{ .status | Quote }}}}
        reason: {{{{ .reason | Quote }}}}
        message: {{{{ .message | Quote }}}}
        lastHeartbeatTime: {{{{ $now | Quote }}}}
        lastTransitionTime: {{{{ $now | Quote }}}}
      {{{{ end }}}}
      addresses:
      - type: InternalIP
        address: {{{{ NodeIP | Quote }}}}
      - type: Hostname
        address: {{{{ .metadata.name | Quote }}}}
      allocatable: {{ cpu: "1k", memory: 1Ti, pods: "{node_pods}" }}
      capacity: {{ cpu: "1k", memory: 1Ti, pods: "{node_pods}" }}
      nodeInfo:
        architecture: amd64
        operatingSystem: linux
        osImage: kwok
        kernelVersion: {{{{ printf "kwok-%s" Version | Quote }}}}
        kubeletVersion: {{{{ printf "kwok-%s" Version | Quote }}}}
        kubeProxyVersion: {{{{ printf "kwok-%s" Version | Quote }}}}
        containerRuntimeVersion: {{{{ printf "kwok-%s" Version | Quote }}}}
        machineID: ""
        systemUUID: ""
        bootID: ""
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: rollgate-node-heartbeat
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: In
      values: ["True"]
  delay:
    durationMilliseconds: 20000
    jitterDurationMilliseconds: 25000
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      {{{{ $since := or .metadata.creationTimestamp $now }}}}
      conditions:
      {{{{ range NodeConditions }}}}
      - type: {{{{ .type | Quote }}}}
        status: {{{{ .status | Quote }}}}
        reason: {{{{ .reason | Quote }}}}
        message: {{{{ .message | Quote }}}}
        lastHeartbeatTime: {{{{ $now | Quote }}}}
        lastTransitionTime: {{{{ $since | Quote }}}}
      {{{{ end }}}}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: rollgate-pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.status.phase'
      operator: In
      values: ["Pending"]
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      phase: Running
      startTime: {{{{ $now | Quote }}}}
      conditions:
      {{{{ range list "PodScheduled" "Initialized" "ContainersReady" "Ready" }}}}
      - type: {{{{ . }}}}
        status: "True"
        lastTransitionTime: {{{{ $now | Quote }}}}
      {{{{ end }}}}
      {{{{ range .spec.readinessGates }}}}
      - type: {{{{ .conditionType | Quote }}}}
        status: "True"
        lastTransitionTime: {{{{ $now | Quote }}}}
      {{{{ end }}}}
      initContainerStatuses:
      {{{{ range .spec.initContainers }}}}
      - name: {{{{ .name | Quote }}}}
        image: {{{{ .image | Quote }}}}
        ready: true
        restartCount: 0
        state:
          terminated:
            exitCode: 0
            reason: Completed
            startedAt: {{{{ $now | Quote }}}}
            finishedAt: {{{{ $now | Quote }}}}
      {{{{ end }}}}
      containerStatuses:
      {{{{ range .spec.containers }}}}
      - name: {{{{ .name | Quote }}}}
        image: {{{{ .image | Quote }}}}
        ready: true
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{{{ $now | Quote }}}}
      {{{{ end }}}}
      {{{{ with NodeIPsWith .spec.nodeName }}}}
      hostIP: {{{{ index . 0 | Quote }}}}
      {{{{ end }}}}
      {{{{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}}}
      podIP: {{{{ index . 0 | Quote }}}}
      podIPs:
      {{{{ range . }}}}
      - ip: {{{{ . | Quote }}}}
      {{{{ end }}}}
      {{{{ end }}}}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: rollgate-pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: Exists
  next:
    delete: true
"#
    )
}
