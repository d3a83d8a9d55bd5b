//! Taking over a running Deployment, and handing it back, without losing serving capacity.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kube::api::DeleteParams;
use rollgate::api::Phase;

use crate::support::{Fixture, rollout};

const MINUTE: Duration = Duration::from_secs(60);

/// Watches ready pods of `app` every 50 ms and remembers the fewest seen.
struct CapacityWatch {
    min: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl CapacityWatch {
    fn start(f: &Fixture) -> Self {
        let min = Arc::new(AtomicUsize::new(usize::MAX));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (min.clone(), stop.clone());
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(f.client.clone(), f.name());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if let Ok(list) = pods
                    .list(&kube::api::ListParams::default().labels("app=app"))
                    .await
                {
                    let ready = list
                        .items
                        .iter()
                        .filter(|p| {
                            p.status
                                .as_ref()
                                .and_then(|s| s.conditions.as_ref())
                                .is_some_and(|cs| {
                                    cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                                })
                        })
                        .count();
                    m.fetch_min(ready, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        CapacityWatch { min, stop, task }
    }

    async fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.min.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn adopting_a_running_deployment_never_drops_below_replicas_and_deleting_hands_it_back() {
    let f = Fixture::new("adopt").await;
    f.create_deployment("app", 4, "app:v1").await;
    f.wait("4 ready pods before adoption", MINUTE, || async {
        (f.ready_pods("app").await.len() == 4).then_some(())
    })
    .await;

    let watch = CapacityWatch::start(&f);
    f.create_rollout(rollout("app", "app", 4, &[(50, "1s"), (100, "1s")], vec![]))
        .await;
    let _c = f.controller();
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    f.wait(
        "the target held at 0 and 4 stable pods serving",
        MINUTE,
        || async {
            let target = f.deployments().get("app").await.ok()?;
            let held = target.spec.as_ref()?.replicas == Some(0);
            let pods = f.ready_pods("app").await;
            (held && pods.len() == 4 && pods.iter().all(|(_, t, _, _)| t == "stable")).then_some(())
        },
    )
    .await;
    let min = watch.finish().await;
    assert!(min >= 4, "ready pods dropped to {min} during adoption");

    // Deleting the Rollout hands the workload back, again without a gap.
    let watch = CapacityWatch::start(&f);
    f.rollouts()
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    f.wait(
        "the Rollout gone and the target serving 4 pods",
        MINUTE,
        || async {
            let gone = f.rollouts().get_opt("app").await.ok()?.is_none();
            let target = f.deployments().get("app").await.ok()?;
            let pods = f.ready_pods("app").await;
            let own = pods.iter().filter(|(_, t, _, _)| t.is_empty()).count();
            (gone && target.spec.as_ref()?.replicas == Some(4) && own == 4).then_some(())
        },
    )
    .await;
    f.wait("the tracks garbage-collected", MINUTE, || async {
        let names: Vec<_> = f
            .deployments()
            .list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect();
        (names == ["app"]).then_some(())
    })
    .await;
    let min = watch.finish().await;
    assert!(min >= 4, "ready pods dropped to {min} while handing back");
    f.cleanup().await;
}
