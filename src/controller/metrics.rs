//! The controller's own metrics, in Prometheus format (prometheus-client). Labels are stable
//! categories, never free text.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Loop {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: &'static str,
    pub category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

/// A hub's write to a member cluster: `apply` (the release) or `restore` (a rollback), and
/// `ok` or `error`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MemberWriteLabels {
    pub write: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub channel_type: &'static str,
    pub outcome: &'static str,
}

pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<Loop, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub duration: Family<Loop, Histogram>,
    /// How many times one reconcile ran the planner: 0 (skipped, or failed before deciding)
    /// or 1. Never 2: the gates due are asked first, then the planner decides once.
    pub decisions: Family<Loop, Histogram>,
    pub rollouts: Family<PhaseLabels, Gauge>,
    pub gate_evaluations: Family<VerdictLabels, Counter>,
    /// Counted by the Prometheus pool itself.
    pub prometheus: crate::prometheus::PoolCounters,
    pub rollbacks: Family<ReasonLabels, Counter>,
    pub incidents_opened: Counter,
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub leader: Gauge,
    pub releases: Family<PhaseLabels, Gauge>,
    pub member_writes: Family<MemberWriteLabels, Counter>,
    /// Member clusters a Release reconcile could not read (unreachable, refused).
    pub members_unreachable: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rollgate");
        let m = Metrics {
            reconciles: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
            }),
            decisions: Family::new_with_constructor(|| Histogram::new([0.0, 1.0, 2.0])),
            rollouts: Family::default(),
            gate_evaluations: Family::default(),
            prometheus: Default::default(),
            rollbacks: Family::default(),
            incidents_opened: Counter::default(),
            deliveries: Family::default(),
            leader: Gauge::default(),
            releases: Family::default(),
            member_writes: Family::default(),
            members_unreachable: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("reconciles", "Reconciles run", m.reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by error category",
            m.errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            m.duration.clone(),
        );
        registry.register(
            "reconcile_decisions",
            "Planner decisions per reconcile (0 or 1)",
            m.decisions.clone(),
        );
        registry.register("rollouts", "Rollouts by phase", m.rollouts.clone());
        registry.register(
            "gate_evaluations",
            "Gate evaluations by verdict",
            m.gate_evaluations.clone(),
        );
        registry.register(
            "prometheus_queries",
            "Queries sent to Prometheus (equal queries at one instant share one)",
            m.prometheus.queries.clone(),
        );
        registry.register(
            "gate_rounds",
            "Distinct instants (seconds) at which gates were evaluated",
            m.prometheus.rounds.clone(),
        );
        registry.register(
            "rollbacks",
            "Automatic and requested rollbacks, by reason",
            m.rollbacks.clone(),
        );
        registry.register(
            "incidents_opened",
            "Incidents opened",
            m.incidents_opened.clone(),
        );
        registry.register(
            "deliveries",
            "Incident delivery attempts, by channel type and outcome",
            m.deliveries.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            m.leader.clone(),
        );
        registry.register("releases", "Releases by phase", m.releases.clone());
        registry.register(
            "member_writes",
            "A hub's writes to member clusters, by write (apply, restore) and outcome",
            m.member_writes.clone(),
        );
        registry.register(
            "members_unreachable",
            "Member cluster reads that failed (unreachable, refused)",
            m.members_unreachable.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

pub type Shared = Arc<Metrics>;
