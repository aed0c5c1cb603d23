//! Gamma-Gamma: spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV:
//! using iso-value curves for customer base analysis"; Fader & Hardie's note
//! "The Gamma-Gamma model of monetary value", 2013).
//!
//! Each purchase's spend is Gamma(p, ν) with ν ~ Gamma(q, γ) across customers,
//! independent of purchase frequency. Fitted by maximum likelihood over the
//! (number of purchases, mean spend) of buyers with positive spend.

use crate::bgnbd::Fit;
use crate::optimize::{Settings, nelder_mead};
use crate::special::ln_gamma;
use crate::{FitError, group_counts};

/// Log-parameters beyond this magnitude count as a failed (degenerate) fit.
const LOG_BOUND: f64 = 25.0;

/// Fitted Gamma-Gamma parameters; `gamma` is in the currency's major units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    /// Shape of the gamma distribution of one purchase's spend.
    pub p: f64,
    /// Shape of the gamma distribution of customers' spend rates ν.
    pub q: f64,
    /// Scale of the gamma distribution of customers' spend rates ν.
    pub gamma: f64,
}

/// One buyer's purchases as Gamma-Gamma sees them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spend {
    /// Number of purchases averaged.
    pub purchases: u64,
    /// Their mean spend, in major units; must be positive.
    pub mean: f64,
}

impl GammaGamma {
    /// Fits Gamma-Gamma by maximum likelihood: Nelder-Mead with restarts on the
    /// log of (p, q, γ) from (1, 1, 1).
    ///
    /// Buyers with zero purchases or a mean spend that is not positive and
    /// finite are skipped (the gamma density is zero there).
    pub fn fit(spends: &[Spend]) -> Result<Fit<GammaGamma>, FitError> {
        let usable: Vec<(u64, u64)> = spends
            .iter()
            .filter(|s| s.purchases > 0 && s.mean > 0.0 && s.mean.is_finite())
            .map(|s| (s.purchases, s.mean.to_bits()))
            .collect();
        if usable.is_empty() {
            return Err(FitError::NoData);
        }
        let customers = usable.len() as u64;
        let groups = group_counts(usable.into_iter());
        if groups.len() < 2 {
            return Err(FitError::Degenerate(
                "every buyer has the same number of purchases and mean spend".to_owned(),
            ));
        }
        let data = Data::new(&groups);
        let min = nelder_mead(
            |theta| data.negative_ll(theta),
            &[0.0; 3],
            Settings::default(),
        );
        if !min.value.is_finite() || min.x.iter().any(|t| t.abs() >= LOG_BOUND - 1.0) {
            return Err(FitError::Degenerate(format!(
                "Gamma-Gamma log-parameters ran to {:?}",
                min.x
            )));
        }
        if !min.converged {
            return Err(FitError::NotConverged(min.evaluations));
        }
        Ok(Fit {
            model: GammaGamma {
                p: min.x[0].exp(),
                q: min.x[1].exp(),
                gamma: min.x[2].exp(),
            },
            mean_log_likelihood: -min.value,
            evaluations: min.evaluations,
            customers,
        })
    }

    /// Expected spend per purchase of a buyer with `purchases` purchases of
    /// mean `mean` (the posterior mean of p/ν): `p(γ + n·m) / (p·n + q - 1)`.
    ///
    /// With no purchases this is the population mean `p·γ / (q - 1)`. `None`
    /// when the mean does not exist (`p·n + q <= 1`: spend is too heavy-tailed).
    pub fn expected_spend(&self, purchases: u64, mean: f64) -> Option<f64> {
        let n = purchases as f64;
        let denominator = self.p * n + self.q - 1.0;
        if denominator.is_nan() || denominator <= 0.0 {
            return None;
        }
        let value = self.p * (self.gamma + n * mean.max(0.0)) / denominator;
        value.is_finite().then_some(value)
    }
}

/// Grouped (n, mean) pairs with the per-pair constants precomputed.
#[derive(Debug)]
struct Data {
    /// Distinct purchase counts.
    ns: Vec<u64>,
    /// (index in `ns`, ln n, mean, ln mean, weight).
    groups: Vec<(usize, f64, f64, f64, f64)>,
}

impl Data {
    fn new(groups: &[((u64, u64), u64)]) -> Data {
        let mut ns: Vec<u64> = groups.iter().map(|((n, _), _)| *n).collect();
        ns.sort_unstable();
        ns.dedup();
        let groups = groups
            .iter()
            .map(|&((n, bits), w)| {
                let mean = f64::from_bits(bits);
                let ni = ns.binary_search(&n).unwrap_or(0);
                (ni, (n as f64).ln(), mean, mean.ln(), w as f64)
            })
            .collect();
        Data { ns, groups }
    }

    fn negative_ll(&self, theta: &[f64]) -> f64 {
        if theta.iter().any(|t| t.is_nan() || t.abs() > LOG_BOUND) {
            return f64::INFINITY;
        }
        let (p, q, gamma) = (theta[0].exp(), theta[1].exp(), theta[2].exp());
        let common = -ln_gamma(q) + q * gamma.ln();
        let per_n: Vec<f64> = self
            .ns
            .iter()
            .map(|&n| {
                let pn = p * n as f64;
                common + ln_gamma(pn + q) - ln_gamma(pn)
            })
            .collect();
        let (mut sum, mut total) = (0.0, 0.0);
        for &(ni, ln_n, mean, ln_mean, weight) in self.groups.iter() {
            total += weight;
            let n = self.ns[ni] as f64;
            let pn = p * n;
            let ll =
                per_n[ni] + (pn - 1.0) * ln_mean + pn * ln_n - (pn + q) * (gamma + n * mean).ln();
            sum += weight * ll;
        }
        -sum / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER: GammaGamma = GammaGamma {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };

    #[test]
    fn expected_spend_shrinks_towards_the_population_mean() {
        let population = PAPER.expected_spend(0, 0.0).unwrap();
        assert!((population - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        let one = PAPER.expected_spend(1, 100.0).unwrap();
        let many = PAPER.expected_spend(50, 100.0).unwrap();
        assert!(population < one && one < many && many < 100.0);
    }

    #[test]
    fn undefined_mean_is_none_not_nan() {
        let heavy = GammaGamma {
            p: 0.1,
            q: 0.5,
            gamma: 1.0,
        };
        assert_eq!(heavy.expected_spend(0, 0.0), None);
        assert_eq!(heavy.expected_spend(1, 10.0), None);
        assert!(heavy.expected_spend(10, 10.0).is_some());
    }

    #[test]
    fn unusable_data_is_a_clear_error() {
        assert_eq!(GammaGamma::fit(&[]), Err(FitError::NoData));
        let zero = [
            Spend {
                purchases: 2,
                mean: 0.0,
            },
            Spend {
                purchases: 0,
                mean: 5.0,
            },
        ];
        assert_eq!(GammaGamma::fit(&zero), Err(FitError::NoData));
        let same = [Spend {
            purchases: 2,
            mean: 5.0,
        }; 10];
        assert!(matches!(
            GammaGamma::fit(&same),
            Err(FitError::Degenerate(_))
        ));
    }

    /// Figures printed by `tests/data/cdnow/reference.py` (lifetimes 0.11.3
    /// `GammaGammaFitter` on the mean of all calibration purchases, tol 1e-8).
    const REFERENCE: GammaGamma = GammaGamma {
        p: 9.881_286_289,
        q: 3.398_757_526,
        gamma: 7.928_569_16,
    };

    #[test]
    fn fits_the_cdnow_sample_like_the_reference_and_it_is_a_maximum() {
        let spends: Vec<Spend> = crate::testdata::cdnow_sample()
            .iter()
            .map(|c| c.spend())
            .collect();
        let fit = GammaGamma::fit(&spends).unwrap();
        assert_eq!(fit.customers, 2349, "buyers with positive spend");
        let m = fit.model;
        for (got, want) in [
            (m.p, REFERENCE.p),
            (m.q, REFERENCE.q),
            (m.gamma, REFERENCE.gamma),
        ] {
            assert!((got / want - 1.0).abs() < 1e-4, "{m:?} vs {REFERENCE:?}");
        }
        let usable: Vec<(u64, u64)> = spends
            .iter()
            .filter(|s| s.mean > 0.0)
            .map(|s| (s.purchases, s.mean.to_bits()))
            .collect();
        let data = Data::new(&group_counts(usable.into_iter()));
        let at = |g: GammaGamma| -data.negative_ll(&[g.p.ln(), g.q.ln(), g.gamma.ln()]);
        let best = at(m);
        assert!((best - fit.mean_log_likelihood).abs() < 1e-12);
        assert!(
            at(GammaGamma {
                p: m.p * 1.001,
                ..m
            }) < best
        );
        assert!(
            at(GammaGamma {
                q: m.q * 0.999,
                ..m
            }) < best
        );
        assert!(
            at(GammaGamma {
                gamma: m.gamma * 1.001,
                ..m
            }) < best
        );
    }
}
