//! The Mann-Whitney U test with its confidence interval, as R's
//! `wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE)` computes it (the
//! normal approximation with a continuity correction, average ranks for ties), which is what
//! Kayenta's NetflixACAJudge ports: x is the experiment (canary), y the control (stable).
//! The interval's ends and the Hodges-Lehmann estimate are roots of a step function found with
//! R's own Brent solver (`R_zeroin2`, tolerance 1e-4), so the numbers match R's, ties included.

/// R's answer, for the fields Kayenta reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    /// R's `W`: the rank sum of x less m(m+1)/2.
    pub w: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// The confidence interval of the location shift x − y.
    pub low: f64,
    pub high: f64,
    /// The Hodges-Lehmann estimate of the shift.
    pub estimate: f64,
}

/// Why the test cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MannWhitneyError {
    #[error("both samples need at least one value")]
    Empty,
    #[error("a sample holds a value that is not finite")]
    NotFinite,
    #[error("cannot compute a confidence interval when all observations are tied")]
    AllTied,
}

/// R's `uniroot(..., tol = 1e-4)` in `wilcox.test`.
const TOLERANCE: f64 = 1e-4;
const MAX_ITERATIONS: i32 = 1000;

/// The test at `confidence` (Kayenta's judge uses 0.98).
pub fn test(x: &[f64], y: &[f64], confidence: f64) -> Result<MannWhitney, MannWhitneyError> {
    if x.is_empty() || y.is_empty() {
        return Err(MannWhitneyError::Empty);
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err(MannWhitneyError::NotFinite);
    }
    let (m, n) = (x.len() as f64, y.len() as f64);
    // W and its p-value at mu = 0.
    let (dz, sigma) = shifted(x, y, 0.0);
    let w = dz + m * n / 2.0;
    let p_value = if sigma == 0.0 {
        f64::NAN
    } else {
        let z = (dz - 0.5 * sign(dz)) / sigma;
        2.0 * normal_cdf(z).min(normal_cdf(-z))
    };
    let alpha = 1.0 - confidence;
    let min_x = x.iter().copied().fold(f64::INFINITY, f64::min);
    let max_x = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min_y = y.iter().copied().fold(f64::INFINITY, f64::min);
    let max_y = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (mumin, mumax) = (min_x - max_y, max_x - min_y);
    let wdiff = |d: f64, zq: f64, correct: bool| -> Result<f64, MannWhitneyError> {
        let (dz, sigma) = shifted(x, y, d);
        if sigma == 0.0 {
            return Err(MannWhitneyError::AllTied);
        }
        let correction = if correct { 0.5 * sign(dz) } else { 0.0 };
        Ok((dz - correction) / sigma - zq)
    };
    let root = |zq: f64| -> Result<f64, MannWhitneyError> {
        let f_lower = wdiff(mumin, zq, true)?;
        let f_upper = wdiff(mumax, zq, true)?;
        if f_lower <= 0.0 {
            return Ok(mumin);
        }
        if f_upper >= 0.0 {
            return Ok(mumax);
        }
        zeroin(mumin, mumax, f_lower, f_upper, |d| wdiff(d, zq, true))
    };
    let low = root(normal_quantile(1.0 - alpha / 2.0))?;
    let high = root(normal_quantile(alpha / 2.0))?;
    // R sets `correct <- FALSE` before the estimate.
    let f_lower = wdiff(mumin, 0.0, false)?;
    let f_upper = wdiff(mumax, 0.0, false)?;
    let estimate = zeroin(mumin, mumax, f_lower, f_upper, |d| wdiff(d, 0.0, false))?;
    Ok(MannWhitney {
        w,
        p_value,
        low,
        high,
        estimate,
    })
}

fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// For x shifted by −d: the centred rank sum of x, W − mn/2, and its standard deviation with
/// the tie correction.
fn shifted(x: &[f64], y: &[f64], d: f64) -> (f64, f64) {
    let values: Vec<f64> = x.iter().map(|v| v - d).chain(y.iter().copied()).collect();
    let (ranks, ties) = average_ranks(&values);
    let (m, n) = (x.len() as f64, y.len() as f64);
    let rank_sum: f64 = ranks[..x.len()].iter().sum();
    let dz = rank_sum - m * (m + 1.0) / 2.0 - m * n / 2.0;
    let sigma = ((m * n / 12.0) * ((m + n + 1.0) - ties / ((m + n) * (m + n - 1.0)))).sqrt();
    (dz, sigma)
}

/// Average ranks (R's `rank`, ties "average"), and Σ (t³ − t) over groups of ties.
fn average_ranks(values: &[f64]) -> (Vec<f64>, f64) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    (ranks, ties)
}

/// R's `R_zeroin2` (Brent's method, as in `src/library/stats/src/zeroin.c`), with R's
/// `uniroot` arguments of `wilcox.test`.
fn zeroin(
    ax: f64,
    bx: f64,
    fa: f64,
    fb: f64,
    f: impl Fn(f64) -> Result<f64, MannWhitneyError>,
) -> Result<f64, MannWhitneyError> {
    let (mut a, mut b, mut fa, mut fb) = (ax, bx, fa, fb);
    let (mut c, mut fc) = (a, fa);
    if fa == 0.0 {
        return Ok(a);
    }
    if fb == 0.0 {
        return Ok(b);
    }
    let mut maxit = MAX_ITERATIONS + 1;
    while maxit > 0 {
        maxit -= 1;
        let prev_step = b - a;
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol_act = 2.0 * f64::EPSILON * b.abs() + TOLERANCE / 2.0;
        let mut new_step = (c - b) / 2.0;
        if new_step.abs() <= tol_act || fb == 0.0 {
            return Ok(b);
        }
        if prev_step.abs() >= tol_act && fa.abs() > fb.abs() {
            let cb = c - b;
            let (mut p, mut q);
            if a == c {
                let t1 = fb / fa;
                p = cb * t1;
                q = 1.0 - t1;
            } else {
                let qq = fa / fc;
                let t1 = fb / fc;
                let t2 = fb / fa;
                p = t2 * (cb * qq * (qq - t1) - (b - a) * (t1 - 1.0));
                q = (qq - 1.0) * (t1 - 1.0) * (t2 - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if p < (0.75 * cb * q - (tol_act * q).abs() / 2.0) && p < (prev_step * q / 2.0).abs() {
                new_step = p / q;
            }
        }
        if new_step.abs() < tol_act {
            new_step = if new_step > 0.0 { tol_act } else { -tol_act };
        }
        a = b;
        fa = fb;
        b += new_step;
        fb = f(b)?;
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            c = a;
            fc = fa;
        }
    }
    Ok(b)
}

/// Φ(x), from erf's everywhere-positive series (no cancellation) in the body and its
/// continued fraction in the tails.
pub fn normal_cdf(x: f64) -> f64 {
    if x < -6.0 {
        return tail(-x);
    }
    if x > 6.0 {
        return 1.0 - tail(x);
    }
    let t = x / std::f64::consts::SQRT_2;
    // erf(t) = 2/√π · e^(−t²) · Σ 2ⁿ t^(2n+1) / (1·3·…·(2n+1))
    let mut term = t;
    let mut sum = t;
    let mut k = 0.0;
    while term.abs() > 1e-17 * sum.abs() {
        k += 1.0;
        term *= 2.0 * t * t / (2.0 * k + 1.0);
        sum += term;
    }
    let erf = 2.0 / std::f64::consts::PI.sqrt() * (-t * t).exp() * sum;
    0.5 * (1.0 + erf)
}

/// 1 − Φ(x) for large x (Laplace's continued fraction).
fn tail(x: f64) -> f64 {
    let mut f = x;
    for k in (1..60).rev() {
        f = x + k as f64 / f;
    }
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt() / f
}

/// Φ⁻¹(p), by Newton's method on [`normal_cdf`] to double precision.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    // A start within 0.05 (a logistic fit), then Newton.
    let mut x = (p / (1.0 - p)).ln() / 1.702;
    for _ in 0..100 {
        let density = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let step = (normal_cdf(x) - p) / density;
        x -= step;
        if step.abs() < 1e-15 * x.abs().max(1.0) {
            break;
        }
    }
    x
}

#[cfg(test)]
mod tests;
