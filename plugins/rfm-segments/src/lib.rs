//! Kith reference plugin `kith.rfm-segments`: the classic RFM segments
//! (champions, loyal, potential loyalists, new, promising, need attention,
//! about to sleep, at risk, cannot lose, hibernating, lost).
//!
//! The population step ranks buyers into quintiles of recency (days since the
//! latest purchase; 5 = most recent) and frequency (number of purchases; 5 =
//! most); `classify` maps the (R, F) pair onto the widely used score grid
//! documented in the README.

use kith_plugin_sdk::time::days_between;
use kith_plugin_sdk::{
    CustomerInput, InteractionAggregate, InteractionKind, Manifest, Membership, Plugin,
    PluginError, PopulationInput, Result, Segmenter,
};
use serde::Deserialize;

/// JSON Schema of the configuration: there is nothing to configure.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {}
}"#;

/// Format version of the encoded model.
const VERSION: u8 = 1;

/// Encoded size: version byte and 8 little-endian i64 cut points.
pub const ENCODED_LEN: usize = 1 + 8 * 8;

/// The plugin.
#[derive(Debug)]
pub struct RfmSegments;

/// The configuration: an empty object (unknown fields are refused).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// Quintile cut points of the tenant's buyers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    /// Days since the latest purchase (lower is better).
    pub recency_days: [i64; 4],
    /// Number of purchases (higher is better).
    pub frequency: [i64; 4],
}

impl Model {
    /// Serializes the model: version and 8 little-endian `i64`, 65 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![VERSION];
        for v in self.recency_days.iter().chain(&self.frequency) {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes
    }

    /// Reads a model written by [`Model::encode`]; anything else is `invalid-input`.
    pub fn decode(bytes: &[u8]) -> Result<Model> {
        if bytes.len() != ENCODED_LEN || bytes[0] != VERSION {
            return Err(PluginError::InvalidInput(format!(
                "RFM segments model is not version {VERSION} of {ENCODED_LEN} bytes (got {} bytes); \
                 run the population step again",
                bytes.len()
            )));
        }
        let mut values = bytes[1..].chunks_exact(8).map(|c| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(c);
            i64::from_le_bytes(raw)
        });
        let mut next = || [(); 4].map(|()| values.next().unwrap_or_default());
        Ok(Model {
            recency_days: next(),
            frequency: next(),
        })
    }

    /// The R and F scores (1-5, 5 best) of a buyer.
    pub fn scores(&self, recency_days: i64, frequency: i64) -> (u8, u8) {
        let above = |v: i64, cuts: &[i64; 4]| cuts.iter().filter(|&&c| v > c).count() as u8;
        (
            5 - above(recency_days, &self.recency_days),
            1 + above(frequency, &self.frequency),
        )
    }
}

/// Nearest-rank quintile cut points (20/40/60/80 %); `None` when empty.
fn cuts(values: &mut [i64]) -> Option<[i64; 4]> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some([1, 2, 3, 4].map(|k| values[(k * n).div_ceil(5) - 1]))
}

/// Segment ids, names and descriptions, in the order the manifest lists them.
pub const SEGMENTS: [(&str, &str, &str); 11] = [
    (
        "champions",
        "Champions",
        "Bought recently and often (R 5, F 4-5)",
    ),
    (
        "loyal",
        "Loyal",
        "Buy often, fairly recently (R 3-4, F 4-5)",
    ),
    (
        "potential-loyalists",
        "Potential loyalists",
        "Recent buyers with a few purchases (R 4-5, F 2-3)",
    ),
    (
        "new",
        "New",
        "Bought very recently, once or rarely (R 5, F 1)",
    ),
    (
        "promising",
        "Promising",
        "Recent buyers with few purchases (R 4, F 1)",
    ),
    (
        "need-attention",
        "Need attention",
        "Middling recency and frequency (R 3, F 3)",
    ),
    (
        "about-to-sleep",
        "About to sleep",
        "Middling recency, few purchases (R 3, F 1-2)",
    ),
    (
        "at-risk",
        "At risk",
        "Bought often, but long ago (R 1-2, F 3-4)",
    ),
    (
        "cannot-lose",
        "Cannot lose",
        "Were among the most frequent buyers, long ago (R 1-2, F 5)",
    ),
    (
        "hibernating",
        "Hibernating",
        "Few purchases, long ago (R 2, F 1-2)",
    ),
    ("lost", "Lost", "Few purchases, longest ago (R 1, F 1-2)"),
];

/// The segment of an (R, F) pair on the grid.
pub fn segment(r: u8, f: u8) -> &'static str {
    match (r, f) {
        (5, 4 | 5) => "champions",
        (3 | 4, 4 | 5) => "loyal",
        (4 | 5, 2 | 3) => "potential-loyalists",
        (5, _) => "new",
        (4, _) => "promising",
        (3, 3) => "need-attention",
        (3, _) => "about-to-sleep",
        (_, 5) => "cannot-lose",
        (_, 3 | 4) => "at-risk",
        (2, _) => "hibernating",
        _ => "lost",
    }
}

/// Days since the latest purchase and number of purchases, if the customer bought.
fn rf(aggregates: &[InteractionAggregate], now: i64) -> Option<(i64, i64)> {
    let purchases = aggregates
        .iter()
        .find(|a| a.kind == InteractionKind::Purchase)?;
    let frequency = i64::try_from(purchases.count).unwrap_or(i64::MAX);
    Some((days_between(purchases.last_at, now).max(0), frequency))
}

impl Plugin for RfmSegments {
    type Config = Config;

    fn manifest() -> Manifest {
        let manifest = Manifest::new("kith.rfm-segments", env!("CARGO_PKG_VERSION"), "RFM segments")
            .description(
                "Classic RFM segments (champions, loyal, at risk, lost, ...) from quintiles of recency and \
                 frequency of purchases across the tenant's buyers.",
            )
            .industries(["retail", "e-commerce"])
            .config_schema(CONFIG_SCHEMA)
            .population(Vec::<String>::new());
        SEGMENTS
            .iter()
            .fold(manifest, |m, (id, name, description)| {
                m.segment(*id, *name, *description)
            })
    }

    fn populate(_: &Config, input: &PopulationInput) -> Result<Option<Vec<u8>>> {
        let (mut r, mut f): (Vec<i64>, Vec<i64>) = input
            .customers
            .iter()
            .filter_map(|c| rf(&c.aggregates, input.now))
            .unzip();
        let (Some(recency_days), Some(frequency)) = (cuts(&mut r), cuts(&mut f)) else {
            return Ok(None);
        };
        Ok(Some(
            Model {
                recency_days,
                frequency,
            }
            .encode(),
        ))
    }
}

impl Segmenter for RfmSegments {
    fn classify(_: &Config, input: &CustomerInput) -> Result<Vec<Membership>> {
        let Some((recency, frequency)) = rf(&input.customer.aggregates, input.now) else {
            return Ok(Vec::new());
        };
        let Some(bytes) = &input.model else {
            return Err(PluginError::InvalidInput(
                "no RFM segments model yet: the population step has not run or found no buyers"
                    .to_owned(),
            ));
        };
        let model = Model::decode(bytes)?;
        let (r, f) = model.scores(recency, frequency);
        let id = segment(r, f);
        Ok(vec![Membership::new(
            id,
            format!(
                "R {r} (last purchase {recency} days ago), F {f} ({frequency} purchases): {id} on the R/F grid"
            ),
        )])
    }
}

kith_plugin_sdk::export_plugin!(RfmSegments, segmenter);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::CustomerView;
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};
    use kith_plugin_sdk::time::MICROS_PER_DAY;

    use super::*;

    const NOW: i64 = 1_000 * MICROS_PER_DAY;

    /// Buyer with `count` purchases, the latest `days_ago` days ago.
    fn buyer(id: &str, count: i64, days_ago: i64) -> CustomerView {
        (0..count)
            .fold(customer(id), |c, n| {
                c.purchase(NOW - (days_ago + 3 * n) * MICROS_PER_DAY, 100, "USD")
            })
            .build()
    }

    /// 25 buyers: one per (recency rank, frequency rank) cell.
    fn base() -> Vec<CustomerView> {
        (0..25)
            .map(|i| buyer(&format!("b{i}"), 1 + i % 5, 10 + 30 * (i / 5)))
            .collect()
    }

    fn harness() -> Harness<RfmSegments> {
        Harness::<RfmSegments>::new("{}")
            .now(NOW)
            .with_population(base())
            .unwrap()
    }

    #[test]
    fn manifest_declares_every_segment_of_the_grid() {
        let m = assert_manifest_valid::<RfmSegments>();
        assert_eq!(m.segments.len(), 11);
        for r in 1..=5 {
            for f in 1..=5 {
                let id = segment(r, f);
                assert!(m.segments.iter().any(|s| s.id == id), "{id}");
            }
        }
    }

    #[test]
    fn the_grid_is_the_documented_one() {
        let grid: Vec<String> = (1..=5u8)
            .rev()
            .map(|f| {
                (1..=5u8)
                    .map(|r| &segment(r, f)[..3])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        // Rows F 5..1, columns R 1..5, first three letters of the segment.
        assert_eq!(
            grid,
            [
                "can can loy loy cha",
                "at- at- loy loy cha",
                "at- at- nee pot pot",
                "los hib abo pot pot",
                "los hib abo pro new",
            ]
        );
    }

    #[test]
    fn buyers_land_in_the_expected_cells_with_a_reason() {
        let h = harness();
        let champion = h.classify(buyer("c", 9, 1)).unwrap();
        assert_eq!(champion.len(), 1);
        assert_eq!(champion[0].segment, "champions");
        assert!(
            champion[0]
                .reason
                .starts_with("R 5 (last purchase 1 days ago), F 5 (9 purchases)"),
            "{}",
            champion[0].reason
        );
        assert_eq!(h.classify(buyer("n", 1, 2)).unwrap()[0].segment, "new");
        assert_eq!(h.classify(buyer("l", 1, 900)).unwrap()[0].segment, "lost");
        assert_eq!(
            h.classify(buyer("x", 9, 900)).unwrap()[0].segment,
            "cannot-lose"
        );
    }

    #[test]
    fn non_buyers_get_no_segment_and_empty_population_no_model() {
        assert!(
            harness()
                .classify(customer("n").build())
                .unwrap()
                .is_empty()
        );
        let h = Harness::<RfmSegments>::new("{}").now(NOW);
        assert!(h.populate(Vec::<CustomerView>::new()).unwrap().is_empty());
        assert!(h.populate([customer("x").build()]).unwrap().is_empty());
        let err = h.classify(buyer("b", 2, 3)).unwrap_err();
        assert!(matches!(err, PluginError::InvalidInput(_)));
    }

    #[test]
    fn bad_config_and_corrupt_models_are_clear_errors() {
        for config in [r#"{"grid":1}"#, r#""x""#, "{"] {
            let err = Harness::<RfmSegments>::new(config)
                .classify(buyer("b", 1, 1))
                .unwrap_err();
            assert!(matches!(err, PluginError::InvalidConfig(_)), "{config}");
        }
        let err = harness()
            .model(Some(vec![VERSION; 64]))
            .classify(buyer("b", 1, 1))
            .unwrap_err();
        assert!(matches!(err, PluginError::InvalidInput(_)));
        let model = Model {
            recency_days: [1, 2, 3, 4],
            frequency: [5, 6, 7, i64::MAX],
        };
        assert_eq!(Model::decode(&model.encode()).unwrap(), model);
    }
}
