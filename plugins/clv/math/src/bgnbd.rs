//! BG/NBD: purchase frequency and dropout (Fader, Hardie & Lee 2005,
//! "Counting your customers the easy way: an alternative to the Pareto/NBD model").
//!
//! While alive, a customer buys at a Poisson rate λ ~ Gamma(r, α); after every
//! purchase they drop out with probability p ~ Beta(a, b). Fitted by maximum
//! likelihood (equation 6 of the paper) over buyers' (x, t_x, T).

use crate::optimize::{Settings, nelder_mead};
use crate::special::{euler_bracket, hyp2f1, ln_gamma};
use crate::{FitError, group_counts};

/// Log-parameters beyond this magnitude count as a failed (degenerate) fit.
const LOG_BOUND: f64 = 25.0;

/// Fitted BG/NBD parameters; `alpha` is in the time unit of the data it was fitted on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    /// Shape of the gamma distribution of purchase rates.
    pub r: f64,
    /// Scale of the gamma distribution of purchase rates (time units).
    pub alpha: f64,
    /// First shape of the beta distribution of dropout probabilities.
    pub a: f64,
    /// Second shape of the beta distribution of dropout probabilities.
    pub b: f64,
}

/// A fitted model with what the fit cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit<M> {
    /// The parameters at the maximum.
    pub model: M,
    /// Mean log-likelihood per customer at the maximum.
    pub mean_log_likelihood: f64,
    /// Likelihood evaluations the optimiser made.
    pub evaluations: usize,
    /// Customers the fit used.
    pub customers: u64,
}

/// One buyer's (x, t_x, T) as BG/NBD sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Repeat purchases `x`.
    pub frequency: u64,
    /// Time of the latest purchase after the first, `t_x`.
    pub recency: f64,
    /// Time since the first purchase, `T`.
    pub age: f64,
}

/// The sufficient statistics of a population, grouped so that one likelihood
/// evaluation costs one `exp` and one `ln` per distinct (x, t_x, T) and one
/// `ln` per distinct time value.
#[derive(Debug)]
struct Data {
    /// Distinct repeat-purchase counts.
    xs: Vec<u64>,
    /// Distinct times (t_x and T values).
    times: Vec<f64>,
    /// (index in `xs`, index of t_x in `times`, index of T in `times`, weight).
    groups: Vec<(usize, usize, usize, f64)>,
}

impl Data {
    fn new(observations: &[Observation]) -> Data {
        let key = |o: &Observation| (o.frequency, o.recency.to_bits(), o.age.to_bits());
        let grouped = group_counts(observations.iter().map(key));
        let mut xs: Vec<u64> = grouped.iter().map(|((x, _, _), _)| *x).collect();
        xs.sort_unstable();
        xs.dedup();
        let mut times: Vec<u64> = grouped
            .iter()
            .flat_map(|((_, tx, t), _)| [*tx, *t])
            .collect();
        times.sort_unstable_by(|a, b| f64::from_bits(*a).total_cmp(&f64::from_bits(*b)));
        times.dedup();
        let index = |v: &[u64], k: u64| {
            v.binary_search_by(|p| f64::from_bits(*p).total_cmp(&f64::from_bits(k)))
        };
        let groups = grouped
            .iter()
            .map(|&((x, tx, t), n)| {
                let xi = xs.binary_search(&x).unwrap_or(0);
                let txi = index(&times, tx).unwrap_or(0);
                let ti = index(&times, t).unwrap_or(0);
                (xi, txi, ti, n as f64)
            })
            .collect();
        Data {
            xs,
            times: times.into_iter().map(f64::from_bits).collect(),
            groups,
        }
    }

    /// Mean negative log-likelihood at log-parameters `theta`.
    fn negative_ll(&self, theta: &[f64], scratch: &mut Scratch) -> f64 {
        if theta.iter().any(|t| t.is_nan() || t.abs() > LOG_BOUND) {
            return f64::INFINITY;
        }
        let (r, alpha, a, b) = (
            theta[0].exp(),
            theta[1].exp(),
            theta[2].exp(),
            theta[3].exp(),
        );
        scratch.ln_alpha_t.clear();
        scratch
            .ln_alpha_t
            .extend(self.times.iter().map(|t| (alpha + t).ln()));
        let common = -ln_gamma(r) + ln_gamma(a + b) - ln_gamma(b) + r * alpha.ln();
        let ln_a = a.ln();
        scratch.base.clear();
        scratch.base.extend(self.xs.iter().map(|&x| {
            let x = x as f64;
            let base = common + ln_gamma(r + x) + ln_gamma(b + x) - ln_gamma(a + b + x);
            let c = if x > 0.0 {
                ln_a - (b + x - 1.0).ln()
            } else {
                0.0
            };
            (base, c)
        }));
        let (mut sum, mut total) = (0.0, 0.0);
        for &(xi, txi, ti, weight) in self.groups.iter() {
            total += weight;
            let x = self.xs[xi] as f64;
            let (base, c) = scratch.base[xi];
            let ln_t = scratch.ln_alpha_t[ti];
            let mut ll = base - (r + x) * ln_t;
            if x > 0.0 {
                ll += softplus(c + (r + x) * (ln_t - scratch.ln_alpha_t[txi]));
            }
            sum += weight * ll;
        }
        -sum / total
    }
}

/// Per-evaluation tables, kept between evaluations to avoid allocating.
#[derive(Debug, Default)]
struct Scratch {
    ln_alpha_t: Vec<f64>,
    base: Vec<(f64, f64)>,
}

/// `ln(1 + e^d)` without overflow.
fn softplus(d: f64) -> f64 {
    if d > 0.0 {
        d + (-d).exp().ln_1p()
    } else {
        d.exp().ln_1p()
    }
}

impl BgNbd {
    /// Fits BG/NBD to buyers' observations by maximum likelihood.
    ///
    /// Nelder-Mead with restarts on the log of the four parameters, from
    /// r = α = a = b = 1. Fails when there is no buyer, when nobody bought twice
    /// (the likelihood then has no maximum: dropout is unidentified), or when
    /// the optimum runs off to a degenerate boundary.
    pub fn fit(observations: &[Observation]) -> Result<Fit<BgNbd>, FitError> {
        if observations.is_empty() {
            return Err(FitError::NoData);
        }
        if observations
            .iter()
            .any(|o| !(o.recency >= 0.0 && o.age >= o.recency && o.age.is_finite()))
        {
            return Err(FitError::Invalid(
                "an observation has t_x < 0 or T < t_x".to_owned(),
            ));
        }
        if observations.iter().all(|o| o.frequency == 0) {
            return Err(FitError::NoRepeatBuyers);
        }
        let data = Data::new(observations);
        let mut scratch = Scratch::default();
        let min = nelder_mead(
            |theta| data.negative_ll(theta, &mut scratch),
            &[0.0; 4],
            Settings::default(),
        );
        if !min.value.is_finite() || min.x.iter().any(|t| t.abs() >= LOG_BOUND - 1.0) {
            return Err(FitError::Degenerate(format!(
                "BG/NBD log-parameters ran to {:?}",
                min.x
            )));
        }
        if !min.converged {
            return Err(FitError::NotConverged(min.evaluations));
        }
        Ok(Fit {
            model: BgNbd {
                r: min.x[0].exp(),
                alpha: min.x[1].exp(),
                a: min.x[2].exp(),
                b: min.x[3].exp(),
            },
            mean_log_likelihood: -min.value,
            evaluations: min.evaluations,
            customers: observations.len() as u64,
        })
    }

    /// Mean log-likelihood per customer of these observations under the model.
    pub fn mean_log_likelihood(&self, observations: &[Observation]) -> f64 {
        let data = Data::new(observations);
        let theta = [self.r.ln(), self.alpha.ln(), self.a.ln(), self.b.ln()];
        -data.negative_ll(&theta, &mut Scratch::default())
    }

    /// Probability that a customer with this history has not dropped out (paper, eq. 13).
    ///
    /// A customer without repeat purchases is alive with probability 1: in
    /// BG/NBD dropout can only happen right after a purchase.
    pub fn p_alive(&self, o: &Observation) -> f64 {
        if o.frequency == 0 {
            return 1.0;
        }
        let d = self.log_odds_dead(o);
        if d > 0.0 {
            let e = (-d).exp();
            e / (1.0 + e)
        } else {
            1.0 / (1.0 + d.exp())
        }
    }

    /// `ln[a / (b + x - 1) · ((α + T) / (α + t_x))^(r + x)]`.
    fn log_odds_dead(&self, o: &Observation) -> f64 {
        let x = o.frequency as f64;
        self.a.ln() - (self.b + x - 1.0).ln()
            + (self.r + x) * ((self.alpha + o.age).ln() - (self.alpha + o.recency).ln())
    }

    /// Expected purchases in the next `t` time units given the history (paper, eq. 10).
    ///
    /// Computed as `C · [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; C; z)] / (a-1) · P(alive)`
    /// with `C = a+b+x-1` and `z = t / (α+T+t)`: Euler's transformation of the
    /// paper's `2F1(r+x, b+x; C; z)`, whose terms stay bounded for any x and
    /// which has no singularity at a = 1. `None` when the series cannot be
    /// summed (t astronomically larger than α + T).
    pub fn expected_purchases(&self, t: f64, o: &Observation) -> Option<f64> {
        if t.is_nan() || t < 0.0 {
            return None;
        }
        if t == 0.0 {
            return Some(0.0);
        }
        let x = o.frequency as f64;
        let c = self.a + self.b + x - 1.0;
        let z = t / (self.alpha + o.age + t);
        let bracket = match euler_bracket(self.a + self.b - 1.0 - self.r, self.a - 1.0, c, z) {
            Some(bracket) => bracket,
            // Huge a and b (a nearly homogeneous dropout probability) make the
            // transformed series blow up while the paper's own series behaves.
            None => {
                let f = hyp2f1(self.r + x, self.b + x, c, z)?;
                (1.0 - ((self.r + x) * (-z).ln_1p()).exp() * f) / (self.a - 1.0)
            }
        };
        let value = c * bracket * self.p_alive(o);
        (value.is_finite() && value >= 0.0).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct evaluation of the paper's equation 10 with the untransformed series (small z only).
    fn expected_direct(m: &BgNbd, t: f64, o: &Observation) -> f64 {
        let x = o.frequency as f64;
        let (aa, bb, cc) = (m.r + x, m.b + x, m.a + m.b + x - 1.0);
        let z = t / (m.alpha + o.age + t);
        let (mut term, mut f) = (1.0, 1.0);
        for n in 0..20_000 {
            let n = f64::from(n);
            term *= (aa + n) * (bb + n) / ((cc + n) * (n + 1.0)) * z;
            f += term;
        }
        let numerator = cc / (m.a - 1.0)
            * (1.0 - ((m.alpha + o.age) / (m.alpha + o.age + t)).powf(m.r + x) * f);
        let odds = if x > 0.0 {
            m.a / (m.b + x - 1.0) * ((m.alpha + o.age) / (m.alpha + o.recency)).powf(m.r + x)
        } else {
            0.0
        };
        numerator / (1.0 + odds)
    }

    const PAPER: BgNbd = BgNbd {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    fn obs(frequency: u64, recency: f64, age: f64) -> Observation {
        Observation {
            frequency,
            recency,
            age,
        }
    }

    #[test]
    fn expected_purchases_match_the_papers_formula() {
        for o in [
            obs(0, 0.0, 38.86),
            obs(2, 30.43, 38.86),
            obs(7, 35.0, 38.0),
            obs(1, 1.71, 20.0),
        ] {
            for t in [1.0, 10.0, 39.0] {
                let got = PAPER.expected_purchases(t, &o).unwrap();
                let expected = expected_direct(&PAPER, t, &o);
                assert!(
                    (got - expected).abs() < 1e-9,
                    "{o:?} t={t}: {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn expected_purchases_are_continuous_at_a_equal_one() {
        let o = obs(3, 20.0, 30.0);
        let at = |a: f64| BgNbd { a, ..PAPER }.expected_purchases(39.0, &o).unwrap();
        let (below, exact, above) = (at(1.0 - 1e-7), at(1.0), at(1.0 + 1e-7));
        assert!((below - exact).abs() < 1e-6 && (above - exact).abs() < 1e-6);
    }

    #[test]
    fn nearly_homogeneous_dropout_still_sums() {
        let m = BgNbd {
            r: 0.9,
            alpha: 7.0,
            a: 9.1e6,
            b: 1.4e7,
        };
        let o = obs(4, 20.0, 91.0);
        let got = m.expected_purchases(52.0, &o).unwrap();
        let expected = expected_direct(&m, 52.0, &o);
        assert!(
            (got - expected).abs() < 1e-6 * expected,
            "{got} vs {expected}"
        );
    }

    #[test]
    fn long_horizons_still_sum() {
        let o = obs(0, 0.0, 0.0);
        let ten_years = PAPER.expected_purchases(521.0, &o).unwrap();
        let one_year = PAPER.expected_purchases(52.0, &o).unwrap();
        assert!(ten_years > one_year && one_year > 0.0);
    }

    #[test]
    fn p_alive_falls_with_time_since_last_purchase() {
        let recent = PAPER.p_alive(&obs(5, 38.0, 39.0));
        let lapsed = PAPER.p_alive(&obs(5, 5.0, 39.0));
        assert!(recent > 0.85 && lapsed < 0.01, "{recent} {lapsed}");
        assert_eq!(PAPER.p_alive(&obs(0, 0.0, 39.0)), 1.0);
    }

    #[test]
    fn recovers_parameters_it_is_fitted_on_only_when_identifiable() {
        assert_eq!(BgNbd::fit(&[]), Err(FitError::NoData));
        let one_timers = vec![obs(0, 0.0, 10.0); 50];
        assert_eq!(BgNbd::fit(&one_timers), Err(FitError::NoRepeatBuyers));
        assert!(matches!(
            BgNbd::fit(&[obs(1, 5.0, 2.0)]),
            Err(FitError::Invalid(_))
        ));
    }

    /// The CDNOW sample, prepared as `tests/data/cdnow/reference.py` prepares it.
    fn cdnow() -> Vec<Observation> {
        crate::testdata::cdnow_sample()
            .into_iter()
            .map(|c| c.observation())
            .collect()
    }

    /// Figures printed by `tests/data/cdnow/reference.py` (lifetimes 0.11.3
    /// `BetaGeoFitter`, tol 1e-8; see `tests/data/cdnow/reference.txt`).
    const REFERENCE: BgNbd = BgNbd {
        r: 0.242_594_522_7,
        alpha: 4.413_602_061,
        a: 0.792_922_024_9,
        b: 2.425_906_719,
    };

    #[test]
    fn fits_the_cdnow_sample_like_the_reference_and_it_is_a_maximum() {
        let data = cdnow();
        assert_eq!(data.len(), 2357);
        let fit = BgNbd::fit(&data).unwrap();
        let m = fit.model;
        for (got, want) in [
            (m.r, REFERENCE.r),
            (m.alpha, REFERENCE.alpha),
            (m.a, REFERENCE.a),
            (m.b, REFERENCE.b),
        ] {
            assert!((got / want - 1.0).abs() < 1e-4, "{m:?} vs {REFERENCE:?}");
        }
        let best = m.mean_log_likelihood(&data);
        assert!((best - fit.mean_log_likelihood).abs() < 1e-12);
        assert!(best >= REFERENCE.mean_log_likelihood(&data));
        for i in 0..4 {
            for factor in [0.999, 1.001] {
                let mut moved = m;
                match i {
                    0 => moved.r *= factor,
                    1 => moved.alpha *= factor,
                    2 => moved.a *= factor,
                    _ => moved.b *= factor,
                }
                assert!(
                    moved.mean_log_likelihood(&data) < best,
                    "parameter {i} x {factor}"
                );
            }
        }
    }
}
