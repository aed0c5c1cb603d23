//! The population model: quintile cut points per dimension, 97 bytes on the wire.

use kith_plugin_sdk::{PluginError, Result};

/// Format version of the encoded model; bump when the layout changes.
const VERSION: u8 = 1;

/// Encoded size: version byte and 12 little-endian i64 cut points.
const ENCODED_LEN: usize = 1 + 12 * 8;

/// Four cut points splitting one dimension into quintiles.
pub type Cuts = [i64; 4];

/// Quintile thresholds computed from a tenant's customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Days since the last purchase; lower is better.
    pub recency_days: Cuts,
    /// Number of purchases; higher is better.
    pub frequency: Cuts,
    /// Purchase total in minor units; higher is better.
    pub monetary: Cuts,
}

impl Model {
    /// Thresholds used until the population step has run: typical retail values.
    pub fn default_for(currency: &str) -> Model {
        let unit = 10i64.pow(kith_plugin_sdk::currency_exponent(currency));
        Model {
            recency_days: [30, 90, 180, 365],
            frequency: [1, 2, 4, 8],
            monetary: [50 * unit, 100 * unit, 250 * unit, 500 * unit],
        }
    }

    /// Quintile cut points (nearest rank at 20/40/60/80 %) of each dimension.
    ///
    /// `None` when no customer has bought anything.
    pub fn fit(
        mut recency_days: Vec<i64>,
        mut frequency: Vec<i64>,
        mut monetary: Vec<i64>,
    ) -> Option<Model> {
        Some(Model {
            recency_days: cuts(&mut recency_days)?,
            frequency: cuts(&mut frequency)?,
            monetary: cuts(&mut monetary)?,
        })
    }

    /// Serializes the model compactly.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(ENCODED_LEN);
        bytes.push(VERSION);
        for value in self
            .recency_days
            .iter()
            .chain(&self.frequency)
            .chain(&self.monetary)
        {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    /// Reads a model written by [`Model::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Model> {
        if bytes.len() != ENCODED_LEN || bytes[0] != VERSION {
            return Err(PluginError::InvalidInput(format!(
                "RFM model is not version {VERSION} of {ENCODED_LEN} bytes (got {} bytes); run the population step again",
                bytes.len()
            )));
        }
        let mut values = bytes[1..].chunks_exact(8).map(|chunk| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(chunk);
            i64::from_le_bytes(raw)
        });
        let mut next = || -> Cuts { [(); 4].map(|()| values.next().unwrap_or_default()) };
        Ok(Model {
            recency_days: next(),
            frequency: next(),
            monetary: next(),
        })
    }
}

fn cuts(values: &mut [i64]) -> Option<Cuts> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some([1, 2, 3, 4].map(|k| values[(k * n).div_ceil(5) - 1]))
}

/// Quintile 1-5 of a value where higher is better.
pub fn quintile_high(value: i64, cuts: &Cuts) -> u8 {
    1 + cuts.iter().filter(|&&cut| value > cut).count() as u8
}

/// Quintile 1-5 of a value where lower is better.
pub fn quintile_low(value: i64, cuts: &Cuts) -> u8 {
    5 - cuts.iter().filter(|&&cut| value > cut).count() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_round_trips_in_97_bytes() {
        let model = Model {
            recency_days: [1, 2, 3, 4],
            frequency: [5, 6, 7, 8],
            monetary: [-1, 0, i64::MAX, i64::MIN],
        };
        let bytes = model.encode();
        assert_eq!(bytes.len(), 97);
        assert_eq!(Model::decode(&bytes).unwrap(), model);
    }

    #[test]
    fn corrupt_models_are_invalid_input() {
        for bytes in [vec![], vec![VERSION; 96], vec![2; 97]] {
            assert!(matches!(
                Model::decode(&bytes),
                Err(PluginError::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn cuts_are_nearest_rank_quintiles() {
        assert_eq!(
            cuts(&mut (1..=10).rev().collect::<Vec<_>>()),
            Some([2, 4, 6, 8])
        );
        assert_eq!(cuts(&mut [7]), Some([7, 7, 7, 7]));
        assert_eq!(cuts(&mut []), None);
    }

    #[test]
    fn quintiles_order_both_ways() {
        let cuts = [10, 20, 30, 40];
        assert_eq!(
            [5, 10, 11, 40, 41].map(|v| quintile_high(v, &cuts)),
            [1, 1, 2, 4, 5]
        );
        assert_eq!(
            [5, 10, 11, 40, 41].map(|v| quintile_low(v, &cuts)),
            [5, 5, 4, 2, 1]
        );
    }
}
