//! Derivative-free minimisation: Nelder-Mead with restarts.

/// The result of a minimisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// Where the minimum was found.
    pub x: Vec<f64>,
    /// The objective there.
    pub value: f64,
    /// How many times the objective was evaluated.
    pub evaluations: usize,
    /// Whether the last restart stopped on tolerance rather than on the evaluation budget.
    pub converged: bool,
}

/// Settings of [`nelder_mead`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Edge length of the initial simplex around the start.
    pub step: f64,
    /// Stop a run when the simplex's objective spread is below `f_tol · (1 + |f_best|)`...
    pub f_tol: f64,
    /// ...and every vertex is within `x_tol` of the best in every coordinate.
    pub x_tol: f64,
    /// Objective evaluations allowed per run.
    pub max_evaluations: usize,
    /// Extra runs restarted from the best point with a fresh simplex.
    pub restarts: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            step: 0.5,
            f_tol: 1e-10,
            x_tol: 1e-6,
            max_evaluations: 5_000,
            restarts: 3,
        }
    }
}

/// Minimises `f` from `start` with Nelder-Mead, restarting from the best point found.
///
/// Non-finite objective values count as `+inf`, so the simplex walks away from
/// regions where the model is undefined instead of propagating NaN. A restart
/// with a fresh simplex guards against the known failure of a collapsed
/// simplex stopping short of the minimum; restarts end when one no longer improves.
pub fn nelder_mead(mut f: impl FnMut(&[f64]) -> f64, start: &[f64], settings: Settings) -> Minimum {
    let mut evaluations = 0;
    let mut eval = |x: &[f64]| {
        evaluations += 1;
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut best_x = start.to_vec();
    let mut best = eval(&best_x);
    let mut converged = false;
    for run in 0..=settings.restarts {
        let step = if run == 0 {
            settings.step
        } else {
            settings.step * 0.2
        };
        let budget = settings.max_evaluations;
        let (x, value, done) = run_once(&mut eval, &best_x, best, step, settings, budget);
        let improved = best - value;
        converged = done;
        if value <= best {
            best_x = x;
            best = value;
        }
        if run > 0 && improved <= settings.f_tol * (1.0 + best.abs()) {
            break;
        }
    }
    Minimum {
        x: best_x,
        value: best,
        evaluations,
        converged,
    }
}

/// One Nelder-Mead run (standard coefficients 1, 2, 1/2, 1/2); returns the best vertex.
fn run_once(
    eval: &mut impl FnMut(&[f64]) -> f64,
    start: &[f64],
    start_value: f64,
    step: f64,
    settings: Settings,
    budget: usize,
) -> (Vec<f64>, f64, bool) {
    let n = start.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    simplex.push((start.to_vec(), start_value));
    for i in 0..n {
        let mut x = start.to_vec();
        x[i] += step;
        let v = eval(&x);
        simplex.push((x, v));
    }
    let mut used = n;
    let point = |centroid: &[f64], worst: &[f64], t: f64| -> Vec<f64> {
        centroid
            .iter()
            .zip(worst)
            .map(|(c, w)| c + t * (w - c))
            .collect()
    };
    loop {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let best = simplex[0].1;
        let spread = simplex[n].1 - best;
        let diameter = simplex[1..]
            .iter()
            .flat_map(|(x, _)| x.iter().zip(&simplex[0].0).map(|(a, b)| (a - b).abs()))
            .fold(0.0, f64::max);
        if best.is_finite()
            && spread <= settings.f_tol * (1.0 + best.abs())
            && diameter <= settings.x_tol
        {
            return (simplex[0].0.clone(), best, true);
        }
        if used >= budget {
            return (simplex[0].0.clone(), best, false);
        }
        let mut centroid = vec![0.0; n];
        for (x, _) in &simplex[..n] {
            for (c, xi) in centroid.iter_mut().zip(x) {
                *c += xi / n as f64;
            }
        }
        let worst = simplex[n].0.clone();
        let worst_value = simplex[n].1;
        let reflected = point(&centroid, &worst, -1.0);
        let fr = eval(&reflected);
        used += 1;
        if fr < best {
            let expanded = point(&centroid, &worst, -2.0);
            let fe = eval(&expanded);
            used += 1;
            simplex[n] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < simplex[n - 1].1 {
            simplex[n] = (reflected, fr);
        } else {
            let (contracted, fc) = if fr < worst_value {
                let c = point(&centroid, &worst, -0.5);
                let v = eval(&c);
                (c, v)
            } else {
                let c = point(&centroid, &worst, 0.5);
                let v = eval(&c);
                (c, v)
            };
            used += 1;
            if fc < worst_value.min(fr) {
                simplex[n] = (contracted, fc);
            } else {
                let anchor = simplex[0].0.clone();
                for (x, v) in simplex.iter_mut().skip(1) {
                    for (xi, ai) in x.iter_mut().zip(&anchor) {
                        *xi = ai + 0.5 * (*xi - ai);
                    }
                    *v = eval(x);
                }
                used += n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let rosenbrock = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let min = nelder_mead(rosenbrock, &[-1.2, 1.0], Settings::default());
        assert!(min.converged);
        assert!(
            (min.x[0] - 1.0).abs() < 1e-6 && (min.x[1] - 1.0).abs() < 1e-6,
            "{min:?}"
        );
    }

    #[test]
    fn walks_away_from_undefined_regions() {
        // Undefined (NaN) left of 0.5; the minimum is at 2.
        let f = |x: &[f64]| {
            if x[0] < 0.5 {
                f64::NAN
            } else {
                (x[0] - 2.0).powi(2)
            }
        };
        let min = nelder_mead(f, &[1.0], Settings::default());
        assert!((min.x[0] - 2.0).abs() < 1e-6, "{min:?}");
    }

    #[test]
    fn stops_on_the_evaluation_budget() {
        let settings = Settings {
            max_evaluations: 10,
            restarts: 0,
            ..Settings::default()
        };
        let min = nelder_mead(
            |x: &[f64]| x.iter().map(|v| v * v).sum(),
            &[5.0, 5.0, 5.0],
            settings,
        );
        assert!(!min.converged);
        assert!(min.evaluations < 20);
    }
}
