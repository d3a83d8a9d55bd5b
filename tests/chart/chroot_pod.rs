//! A pod of the chart run the way a kubelet would run it, without a container runtime: the
//! image's root filesystem (unpacked from the registry by digest) mounted read-only, the pod's
//! volumes written into it (the projected ServiceAccount token and CA, ConfigMaps), the
//! entrypoint run under `chroot` as the pod's user with the container's args and env. What
//! differs from a real pod is the network: the process shares the host's, so it reaches the
//! API server at 127.0.0.1 and listens for metrics on a free port (see `start`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount, Volume};
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

/// The process and where its output goes.
pub struct ChrootPod {
    child: Child,
    log: PathBuf,
}

impl ChrootPod {
    /// Runs the first container of `pod` from `rootfs` (whose image config is `image`).
    /// `hosts` lines are added to the pod's /etc/hosts, as `hostAliases` would be.
    pub async fn start(
        admin: &Client,
        pod: &Pod,
        image: &Value,
        rootfs: &Path,
        hosts: &[String],
        log: PathBuf,
    ) -> ChrootPod {
        let spec = pod.spec.as_ref().expect("pod spec");
        let container = &spec.containers[0];
        for mount in container.volume_mounts.iter().flatten() {
            let volume = spec
                .volumes
                .iter()
                .flatten()
                .find(|v| v.name == mount.name)
                .unwrap_or_else(|| panic!("no volume {}", mount.name));
            let dir = rootfs.join(mount.mount_path.trim_start_matches('/'));
            std::fs::create_dir_all(&dir).unwrap();
            materialize(admin, pod, volume, &dir).await;
        }
        // The kubelet's /etc/hosts and /etc/resolv.conf for the pod.
        let mut etc_hosts = "127.0.0.1 localhost\n".to_string();
        for line in hosts {
            etc_hosts.push_str(line);
            etc_hosts.push('\n');
        }
        std::fs::write(rootfs.join("etc/hosts"), etc_hosts).unwrap();
        std::fs::copy("/etc/resolv.conf", rootfs.join("etc/resolv.conf")).unwrap();

        // Kubernetes: the container's args replace the image's Cmd; its Entrypoint stays.
        let mut argv: Vec<String> = strings(&image["Entrypoint"]);
        match &container.args {
            Some(args) => argv.extend(args.iter().cloned()),
            None => argv.extend(strings(&image["Cmd"])),
        }
        let security = spec.security_context.as_ref().expect("pod securityContext");
        let user = format!(
            "{}:{}",
            security.run_as_user.expect("runAsUser"),
            security.run_as_group.expect("runAsGroup")
        );
        let container_security = container.security_context.as_ref();
        assert_eq!(
            container_security.and_then(|s| s.read_only_root_filesystem),
            Some(true),
            "the chart runs the container with a read-only root filesystem, and so does this"
        );

        let env = pod_env(pod, image);
        let out = std::fs::File::create(&log).unwrap();
        // A private mount namespace in which the root filesystem is bound read-only, then
        // chroot as the pod's user. The process is the container's entrypoint (exec all the way).
        let script = r#"root=$1; user=$2; shift 2
            /usr/bin/mount --bind "$root" "$root" &&
            /usr/bin/mount -o remount,bind,ro "$root" &&
            exec /usr/sbin/chroot --userspec="$user" "$root" "$@""#;
        let child = Command::new("/usr/bin/unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "/bin/sh",
                "-c",
                script,
                "sh",
            ])
            .arg(rootfs)
            .arg(&user)
            .args(&argv)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("unshare + chroot");
        ChrootPod { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChrootPod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The image's Env, then the container's (fieldRefs resolved against the pod), then what the
/// kubelet adds: the API server's address. Metrics listen on a free loopback port, since the
/// host's network is shared with everything else running here.
fn pod_env(pod: &Pod, image: &Value) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = strings(&image["Env"])
        .into_iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.into(), v.into())))
        .collect();
    let container = &pod.spec.as_ref().unwrap().containers[0];
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (Some(value), _) => value.clone(),
            (None, Some(from)) => {
                let path = &from.field_ref.as_ref().expect("only fieldRefs").field_path;
                field(pod, path)
            }
            (None, None) => String::new(),
        };
        env.push((var.name.clone(), value));
    }
    let apiserver = url::Url::parse(&rollgate_platform::shared().apiserver_url).unwrap();
    env.push((
        "KUBERNETES_SERVICE_HOST".into(),
        apiserver.host_str().unwrap().into(),
    ));
    env.push((
        "KUBERNETES_SERVICE_PORT".into(),
        apiserver.port().unwrap().to_string(),
    ));
    env.push(("ROLLGATE_METRICS_ADDR".into(), "127.0.0.1:0".into()));
    env
}

fn field(pod: &Pod, path: &str) -> String {
    match path {
        "metadata.name" => pod.name_any(),
        "metadata.namespace" => pod.namespace().unwrap(),
        other => panic!("fieldRef {other} is not supported here"),
    }
}

/// Writes a volume's files into `dir` as the kubelet would: ConfigMaps, and the projected
/// `kube-api-access` volume (a bound ServiceAccount token, the cluster CA, the namespace).
async fn materialize(admin: &Client, pod: &Pod, volume: &Volume, dir: &Path) {
    let namespace = pod.namespace().unwrap();
    if let Some(source) = &volume.config_map {
        let items: Vec<(String, String)> = match &source.items {
            Some(items) => items
                .iter()
                .map(|i| (i.key.clone(), i.path.clone()))
                .collect(),
            None => Vec::new(),
        };
        write_config_map(admin, &namespace, &source.name, &items, dir).await;
        return;
    }
    let projected = volume
        .projected
        .as_ref()
        .unwrap_or_else(|| panic!("volume {} is of a kind not supported here", volume.name));
    for source in projected.sources.iter().flatten() {
        if let Some(token) = &source.service_account_token {
            let spec = pod.spec.as_ref().unwrap();
            let account = spec.service_account_name.as_deref().unwrap_or("default");
            let jwt = bound_token(admin, pod, account, token.expiration_seconds).await;
            std::fs::write(dir.join(&token.path), jwt).unwrap();
        }
        if let Some(config_map) = &source.config_map {
            let items: Vec<(String, String)> = config_map
                .items
                .iter()
                .flatten()
                .map(|i| (i.key.clone(), i.path.clone()))
                .collect();
            write_config_map(admin, &namespace, &config_map.name, &items, dir).await;
        }
        if let Some(downward) = &source.downward_api {
            for item in downward.items.iter().flatten() {
                let path = &item.field_ref.as_ref().expect("fieldRef").field_path;
                std::fs::write(dir.join(&item.path), field(pod, path)).unwrap();
            }
        }
    }
}

async fn write_config_map(
    admin: &Client,
    namespace: &str,
    name: &str,
    items: &[(String, String)],
    dir: &Path,
) {
    let config_map = Api::<ConfigMap>::namespaced(admin.clone(), namespace)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("ConfigMap {namespace}/{name}: {e}"));
    let data = config_map.data.unwrap_or_default();
    let items: Vec<(String, String)> = match items.is_empty() {
        true => data.keys().map(|k| (k.clone(), k.clone())).collect(),
        false => items.to_vec(),
    };
    for (key, path) in items {
        let value = data
            .get(&key)
            .unwrap_or_else(|| panic!("ConfigMap {name} has no key {key}"));
        std::fs::write(dir.join(path), value).unwrap();
    }
}

/// A token bound to the pod, as the kubelet requests for the projected volume.
async fn bound_token(admin: &Client, pod: &Pod, account: &str, expiry: Option<i64>) -> String {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: expiry,
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(pod.name_any()),
                uid: pod.uid(),
            }),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    Api::<ServiceAccount>::namespaced(admin.clone(), &pod.namespace().unwrap())
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .expect("token request")
        .status
        .and_then(|s| s.token)
        .expect("token")
}
