//! The judges' benchmark: time to detect and detection rate of error regressions, and the
//! false-rollback rate on healthy releases, for the sequential judge and a threshold gate, on
//! simulated Poisson traffic; and the mSPRT's on a simulated latency. Prints the tables of
//! docs/BENCHMARKS.md.
//!
//!     cargo run --release -p rollgate-core --example judges [-- --trials N --seed S]

use rollgate_core::api::Direction;
use rollgate_core::gates::msprt;
use rollgate_core::gates::sequential::Test;
use rollgate_core::gates::simulation::{
    Latency, Rng, Schedule, Threshold, Traffic, msprt_stage, sequential_stage, threshold_stage,
};

/// One stage of the benchmark: 10 minutes, the gate looking every 10 s, the canary at half of
/// the requests, stable failing 1% of them.
const SCHEDULE: Schedule = Schedule {
    interval: 10.0,
    stage: 600.0,
};
const CANARY_SHARE: f64 = 0.5;
const ERROR_RATIO: f64 = 0.01;
const SEQUENTIAL: Test = Test {
    alpha: 0.001,
    tolerated_ratio: 1.0,
};
/// A typical threshold gate: the canary's error ratio over 1 minute at most 2× the baseline,
/// two failing evaluations in a row (no data fails, the default).
const THRESHOLD: Threshold = Threshold {
    max: 0.02,
    window: 60.0,
    failure_limit: 2,
};

struct Cell {
    detected: usize,
    times: Vec<f64>,
}

fn run(trials: usize, seed: u64, traffic: &Traffic, sequential: bool) -> Cell {
    let mut rng = Rng::new(seed);
    let mut times: Vec<f64> = (0..trials)
        .filter_map(|_| {
            if sequential {
                sequential_stage(&mut rng, traffic, &SEQUENTIAL, &SCHEDULE)
            } else {
                threshold_stage(&mut rng, traffic, &THRESHOLD, &SCHEDULE)
            }
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Cell {
        detected: times.len(),
        times,
    }
}

fn rate(n: usize, trials: usize) -> String {
    format!("{:.1}%", 100.0 * n as f64 / trials as f64)
}

fn quantile(times: &[f64], q: f64) -> String {
    if times.is_empty() {
        return "—".into();
    }
    let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
    format!("{:.0} s", times[i])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let trials = arg("--trials", 1_000) as usize;
    let seed = arg("--seed", 1);
    println!(
        "{trials} simulated 10-minute stages per cell (seed {seed}); canary at {}% of requests, stable error ratio {}%, gate checked every {} s.",
        CANARY_SHARE * 100.0,
        ERROR_RATIO * 100.0,
        SCHEDULE.interval
    );
    println!(
        "sequential: alpha {}, tolerance 0%, failureLimit 1. threshold: canary error ratio over {} s <= {}, failureLimit {}.\n",
        SEQUENTIAL.alpha, THRESHOLD.window, THRESHOLD.max, THRESHOLD.failure_limit
    );
    println!(
        "| requests/s | canary errors | judge | detected (or false rollbacks) | time to detect p50 | p90 |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, rps) in [1.0, 10.0, 100.0].into_iter().enumerate() {
        for (j, regression) in [1.0, 1.5, 2.0, 5.0].into_iter().enumerate() {
            let traffic = Traffic {
                rps,
                canary_share: CANARY_SHARE,
                error_ratio: ERROR_RATIO,
                regression,
            };
            for (name, sequential) in [("sequential", true), ("threshold", false)] {
                let cell_seed =
                    seed ^ (((i as u64) << 8) | ((j as u64) << 4) | u64::from(sequential));
                let c = run(trials, cell_seed, &traffic, sequential);
                let what = if regression == 1.0 {
                    "healthy (1×)".to_string()
                } else {
                    format!("{regression}× stable")
                };
                let (detected, p50, p90) = if regression == 1.0 {
                    (
                        format!("{} false rollbacks", rate(c.detected, trials)),
                        "".into(),
                        "".into(),
                    )
                } else {
                    (
                        rate(c.detected, trials),
                        quantile(&c.times, 0.5),
                        quantile(&c.times, 0.9),
                    )
                };
                println!("| {rps} | {what} | {name} | {detected} | {p50} | {p90} |");
            }
        }
    }
    latency_table(trials, seed);
}

/// The mSPRT on a latency: per 10 s interval, each track's p99 log-normal around 250 ms.
fn latency_table(trials: usize, seed: u64) {
    const INTERVALS: usize = 60;
    let test = msprt::Test {
        alpha: 0.001,
        tolerance: 0.0,
        direction: Direction::Increase,
        burn_in: msprt::DEFAULT_BURN_IN,
    };
    println!(
        "\nmSPRT: alpha {}, tolerance 0%, burn-in {}, {INTERVALS} intervals of 10 s per stage; latency log-normal per interval and track.\n",
        test.alpha, test.burn_in
    );
    println!(
        "| log-spread per interval | canary latency | detected (or false rollbacks) | time to detect p50 | p90 |"
    );
    println!("|---|---|---|---|---|");
    for (i, spread) in [0.1, 0.3].into_iter().enumerate() {
        for (j, shift) in [1.0, 1.2, 1.5, 2.0, 3.0].into_iter().enumerate() {
            let mut rng = Rng::new(seed ^ (0x4D53 << 16) ^ ((i as u64) << 8) ^ ((j as u64) << 4));
            let latency = Latency {
                median: 0.25,
                spread,
                shift,
            };
            let mut times: Vec<f64> = (0..trials)
                .filter_map(|_| msprt_stage(&mut rng, &latency, &test, INTERVALS))
                .map(|n| n as f64 * 10.0)
                .collect();
            times.sort_by(f64::total_cmp);
            let (detected, p50, p90) = if shift == 1.0 {
                (
                    format!("{} false rollbacks", rate(times.len(), trials)),
                    String::new(),
                    String::new(),
                )
            } else {
                (
                    rate(times.len(), trials),
                    quantile(&times, 0.5),
                    quantile(&times, 0.9),
                )
            };
            let what = if shift == 1.0 {
                "healthy (1×)".to_string()
            } else {
                format!("{shift}× stable")
            };
            println!("| {spread} | {what} | {detected} | {p50} | {p90} |");
        }
    }
}
