//! The `rollgate` binary run as a user runs it, with the platform's kubeconfig.

use std::process::Stdio;
use std::time::Duration;

use rollgate::api::{Phase, Rollout};
use rollgate_platform::PlatformEnv;
use serde_json::Value;

use crate::{ControllerProcess, Fixture, rollout};

/// What one run of the `rollgate` binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The `rollgate` binary under test, with the platform's kubeconfig and a known $USER.
pub fn rollgate(env: &PlatformEnv) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(crate::binary());
    c.env("KUBECONFIG", &env.kubeconfig)
        .env("USER", USER)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

/// `$USER` of every CLI run: the default of `--by`.
pub const USER: &str = "cli-tester";

/// Runs `rollgate ARGS` (nothing added).
pub async fn run(env: &PlatformEnv, args: &[&str]) -> Run {
    let out = rollgate(env)
        .args(args)
        .output()
        .await
        .expect("run the rollgate binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Fixture {
    /// Runs `rollgate ARGS -n <this namespace>`.
    pub async fn cli(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["-n", self.name()]);
        run(self.env, &all).await
    }

    /// Runs `rollgate ARGS -n <this namespace>`, which must succeed; its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let r = self.cli(args).await;
        if r.code != 0 {
            self.fail(&format!(
                "rollgate {args:?} exited {}: {}{}",
                r.code, r.stdout, r.stderr
            ))
            .await;
        }
        r.stdout
    }

    /// Runs `rollgate ARGS -n <this namespace> -o json`, which must succeed; the document.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.ok(&all).await;
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("rollgate {all:?}: not JSON ({e}): {out}"))
    }

    /// A Deployment and a Rollout `app` (2 pods, no gates) with `stages`, a controller, and
    /// the Rollout Healthy.
    pub async fn simple_app(&self, stages: &[(i32, &str)]) -> ControllerProcess {
        self.create_deployment("app", 2, "app:v1").await;
        self.create_rollout(rollout("app", "app", 2, stages, vec![]))
            .await;
        let c = self.controller();
        self.wait_phase("app", Phase::Healthy, Duration::from_secs(60))
            .await;
        c
    }

    /// Waits until the current stage of `app` has index `index` and bakes.
    pub async fn wait_baking(&self, index: i32) -> Rollout {
        self.wait_rollout(
            "app",
            &format!("stage {index} baking"),
            Duration::from_secs(60),
            |r| {
                r.status.as_ref().is_some_and(|s| {
                    s.phase == Phase::Progressing
                        && s.stage
                            .as_ref()
                            .is_some_and(|st| st.index == index && st.bake_until.is_some())
                })
            },
        )
        .await
    }
}
