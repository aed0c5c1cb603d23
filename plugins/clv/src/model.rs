//! The population model: fitted BG/NBD and Gamma-Gamma parameters, the
//! calibration time, value-band cut points and the configuration they belong to.

use kith_clv_math::{BgNbd, GammaGamma, Reader, TimeUnit, Writer};
use kith_plugin_sdk::{PluginError, Result, Timestamp};

/// Format version of the encoded model; bump when the layout changes.
const VERSION: u8 = 1;

/// Encoded size: version, fingerprint, now, unit, 7 parameters, 4 cuts, 2 counts.
pub const ENCODED_LEN: usize = 1 + 8 + 8 + 1 + 7 * 8 + 4 * 8 + 2 * 8;

/// What the population step learnt about a tenant's customers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    /// Fingerprint of the configuration the model was fitted under.
    pub fingerprint: u64,
    /// The calibration "now": the population step's time.
    pub now: Timestamp,
    /// The time unit of `alpha` and of the data.
    pub unit: TimeUnit,
    /// Purchase frequency and dropout.
    pub bgnbd: BgNbd,
    /// Spend per purchase (`gamma` in major units of the configured currency).
    pub spend: GammaGamma,
    /// Expected-value cut points between bands E|D|C|B|A (20/40/60/80 % of buyers).
    pub value_cuts: [f64; 4],
    /// Buyers the BG/NBD fit used.
    pub buyers: u64,
    /// Buyers with positive spend the Gamma-Gamma fit used.
    pub spenders: u64,
}

impl Model {
    /// Serializes the model: little-endian fields in declaration order, 122 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let (bg, gg) = (self.bgnbd, self.spend);
        let mut w = Writer::new()
            .u8(VERSION)
            .u64(self.fingerprint)
            .i64(self.now)
            .u8(self.unit.code());
        for v in [bg.r, bg.alpha, bg.a, bg.b, gg.p, gg.q, gg.gamma]
            .into_iter()
            .chain(self.value_cuts)
        {
            w = w.f64(v);
        }
        w.u64(self.buyers).u64(self.spenders).finish()
    }

    /// Reads a model written by [`Model::encode`]; anything else is an `invalid-input` error.
    pub fn decode(bytes: &[u8]) -> Result<Model> {
        let corrupt = || {
            PluginError::InvalidInput(format!(
                "CLV model is not version {VERSION} of {ENCODED_LEN} bytes with positive finite parameters \
                 (got {} bytes); run the population step again",
                bytes.len()
            ))
        };
        if bytes.len() != ENCODED_LEN {
            return Err(corrupt());
        }
        let mut r = Reader::new(bytes);
        if r.u8() != Some(VERSION) {
            return Err(corrupt());
        }
        let fingerprint = r.u64().ok_or_else(corrupt)?;
        let now = r.i64().ok_or_else(corrupt)?;
        let unit = r.u8().and_then(TimeUnit::from_code).ok_or_else(corrupt)?;
        let mut params = [0.0; 7];
        for p in &mut params {
            *p = r
                .f64()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(corrupt)?;
        }
        let mut value_cuts = [0.0; 4];
        for c in &mut value_cuts {
            *c = r.f64().filter(|v| v.is_finite()).ok_or_else(corrupt)?;
        }
        let buyers = r.u64().ok_or_else(corrupt)?;
        let spenders = r.u64().ok_or_else(corrupt)?;
        let [r_, alpha, a, b, p, q, gamma] = params;
        Ok(Model {
            fingerprint,
            now,
            unit,
            bgnbd: BgNbd { r: r_, alpha, a, b },
            spend: GammaGamma { p, q, gamma },
            value_cuts,
            buyers,
            spenders,
        })
    }

    /// The band of an expected value: `"A"` for the top 20 % of buyers down to `"E"`.
    pub fn band(&self, value: f64) -> &'static str {
        ["E", "D", "C", "B", "A"][self.value_cuts.iter().filter(|&&cut| value > cut).count()]
    }
}

/// Nearest-rank quintile cut points (20/40/60/80 %) of `values`; zeros when empty.
pub fn quintile_cuts(mut values: Vec<f64>) -> [f64; 4] {
    if values.is_empty() {
        return [0.0; 4];
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    [1, 2, 3, 4].map(|k| values[(k * n).div_ceil(5) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model {
            fingerprint: 42,
            now: -5,
            unit: TimeUnit::Weeks,
            bgnbd: BgNbd {
                r: 0.2,
                alpha: 4.0,
                a: 0.8,
                b: 2.4,
            },
            spend: GammaGamma {
                p: 6.0,
                q: 3.7,
                gamma: 15.0,
            },
            value_cuts: [1.0, 2.0, 3.0, 4.0],
            buyers: 10,
            spenders: 9,
        }
    }

    #[test]
    fn round_trips() {
        let bytes = model().encode();
        assert_eq!(bytes.len(), ENCODED_LEN);
        assert_eq!(Model::decode(&bytes).unwrap(), model());
    }

    #[test]
    fn corrupt_bytes_are_invalid_input() {
        let good = model().encode();
        let mut wrong_version = good.clone();
        wrong_version[0] = 9;
        let mut nan_param = good.clone();
        nan_param[18..26].copy_from_slice(&f64::NAN.to_le_bytes());
        let mut negative = good.clone();
        negative[26..34].copy_from_slice(&(-1.0f64).to_le_bytes());
        let mut bad_unit = good.clone();
        bad_unit[17] = 0;
        for bytes in [
            vec![],
            vec![1, 2, 3],
            good[..60].to_vec(),
            wrong_version,
            nan_param,
            negative,
            bad_unit,
        ] {
            assert!(matches!(
                Model::decode(&bytes),
                Err(PluginError::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn bands_and_cuts() {
        let m = model();
        assert_eq!(
            [0.5, 1.0, 1.5, 3.5, 4.5].map(|v| m.band(v)),
            ["E", "E", "D", "B", "A"]
        );
        assert_eq!(
            quintile_cuts((1..=10).map(f64::from).rev().collect()),
            [2.0, 4.0, 6.0, 8.0]
        );
        assert_eq!(quintile_cuts(Vec::new()), [0.0; 4]);
    }
}
