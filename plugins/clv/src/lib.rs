//! Kith reference plugin `kith.clv`: customer lifetime value from BG/NBD
//! (purchase frequency and dropout) and Gamma-Gamma (spend per purchase).
//!
//! The population step fits both models by maximum likelihood over the tenant's
//! buyers. Per customer, `score` returns the expected value of their purchases
//! over the configured horizon in major units of the configured currency, a
//! band `"A"` (top 20 % of buyers) to `"E"`, and reasons carrying P(alive), the
//! expected number of purchases and the expected value. Customers without
//! purchases score 0 with band `"none"`.

mod model;

use std::collections::BTreeMap;

use kith_clv_math::{
    BgNbd, FitError, GammaGamma, History, Observation, Spend, TimeUnit, fingerprint,
};
use kith_plugin_sdk::time::parse_rfc3339;
use kith_plugin_sdk::{
    CustomerInput, InteractionAggregate, InteractionKind, Manifest, Money, Plugin, PluginError,
    PopulationInput, Result, ScoreOutput, Scorer, Timestamp, currency_exponent,
};
use serde::Deserialize;

pub use model::{ENCODED_LEN, Model};

/// JSON Schema of the configuration.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "currency": {
      "description": "ISO 4217 currency whose purchase amounts are spend; the value is in its major units",
      "type": "string", "pattern": "^[A-Z]{3}$", "default": "USD"
    },
    "time_unit": {
      "description": "Unit the models measure time in (alpha and gamma are per unit)",
      "enum": ["days", "weeks", "months"], "default": "weeks"
    },
    "horizon_days": {
      "description": "How far ahead purchases and value are forecast, in days",
      "type": "integer", "minimum": 1, "maximum": 3660, "default": 365
    },
    "annual_discount_rate": {
      "description": "Yearly rate future value is discounted at (0.1 = 10 %); 0 for none",
      "type": "number", "minimum": 0, "maximum": 1, "default": 0
    },
    "as_of": {
      "description": "Fit and forecast as of this RFC 3339 date-time instead of now: for backtests on a history that ends there",
      "type": "string", "format": "date-time"
    }
  }
}"#;

/// The longest horizon accepted, in days (ten years).
const MAX_HORIZON_DAYS: u32 = 3660;

/// Days in the Julian year that discount rates are quoted per.
const DAYS_PER_YEAR: f64 = 365.25;

/// The plugin.
#[derive(Debug)]
pub struct Clv;

/// The tenant's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Currency of spend and value.
    pub currency: String,
    /// Unit of time of the models.
    pub time_unit: TimeUnit,
    /// Forecast horizon in days.
    pub horizon_days: u32,
    /// Yearly discount rate, 0 for none.
    pub annual_discount_rate: f64,
    /// The calibration end (RFC 3339) to use instead of the call's "now", for backtests.
    pub as_of: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            currency: "USD".to_owned(),
            time_unit: TimeUnit::Weeks,
            horizon_days: 365,
            annual_discount_rate: 0.0,
            as_of: None,
        }
    }
}

impl Config {
    /// Checks what the types cannot say.
    pub fn validate(&self) -> Result<()> {
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(PluginError::InvalidConfig(format!(
                "currency {:?} is not an ISO 4217 code such as \"USD\"",
                self.currency
            )));
        }
        if !(1..=MAX_HORIZON_DAYS).contains(&self.horizon_days) {
            return Err(PluginError::InvalidConfig(format!(
                "horizon_days must be between 1 and {MAX_HORIZON_DAYS}, got {}",
                self.horizon_days
            )));
        }
        if !(0.0..=1.0).contains(&self.annual_discount_rate) {
            return Err(PluginError::InvalidConfig(format!(
                "annual_discount_rate must be between 0 and 1 (e.g. 0.1 for 10 %), got {}",
                self.annual_discount_rate
            )));
        }
        self.now(0)?;
        Ok(())
    }

    /// The time the models are fitted and forecast at: `as_of` when set, else the call's `now`.
    pub fn now(&self, call_now: Timestamp) -> Result<Timestamp> {
        match &self.as_of {
            None => Ok(call_now),
            Some(raw) => parse_rfc3339(raw).ok_or_else(|| {
                PluginError::InvalidConfig(format!(
                    "as_of {raw:?} is not an RFC 3339 date-time such as \"1997-09-30T00:00:00Z\""
                ))
            }),
        }
    }

    /// What a model depends on; a model fitted under another fingerprint is stale.
    pub fn fingerprint(&self) -> u64 {
        let mut key = format!(
            "kith.clv/1|{}|{}|{}|{}",
            self.currency,
            self.time_unit.name(),
            self.horizon_days,
            self.annual_discount_rate
        );
        // Only when set, so models fitted before `as_of` existed stay valid.
        if let Some(as_of) = &self.as_of {
            key.push_str("|as_of=");
            key.push_str(as_of);
        }
        fingerprint(&key)
    }

    /// A customer's purchase history as of [`Config::now`]. With `as_of`, a purchase after it
    /// is an error: the aggregate would count it, and a backtest must not see the future.
    pub fn history(
        &self,
        aggregates: &[InteractionAggregate],
        call_now: Timestamp,
    ) -> Result<Option<History>> {
        let now = self.now(call_now)?;
        if self.as_of.is_some()
            && let Some(a) = aggregates
                .iter()
                .find(|a| a.kind == InteractionKind::Purchase && a.count > 0)
            && a.last_at > now
        {
            return Err(PluginError::InvalidInput(format!(
                "a purchase is after as_of {:?}; a backtest needs the history to end there",
                self.as_of.as_deref().unwrap_or_default()
            )));
        }
        Ok(History::from_aggregates(
            aggregates,
            &self.currency,
            self.time_unit,
            now,
        ))
    }

    fn horizon(&self) -> f64 {
        f64::from(self.horizon_days) / self.time_unit.days()
    }
}

/// The forecast for one buyer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Probability the customer has not dropped out.
    pub p_alive: f64,
    /// Expected purchases over the horizon.
    pub expected_purchases: f64,
    /// Expected purchases weighted by their discount factors (equal to
    /// `expected_purchases` without discounting).
    pub discounted_purchases: f64,
    /// Expected spend per future purchase, in major units.
    pub expected_spend: f64,
    /// `discounted_purchases × expected_spend`: the score.
    pub expected_value: f64,
}

/// The forecast for a buyer with this history under a fitted model.
///
/// Discounting splits the horizon into monthly steps and discounts each step's
/// expected purchases at its midpoint, `(1 + rate)^(-years)`; without a
/// discount rate it is a single step.
pub fn figures(config: &Config, model: &Model, history: &History) -> Result<Figures> {
    let obs = Observation {
        frequency: history.frequency,
        recency: history.recency,
        age: history.age.max(history.recency),
    };
    let discounted = discounted_purchases(config, &model.bgnbd, &obs)?;
    let expected_purchases = if config.annual_discount_rate == 0.0 {
        discounted
    } else {
        expected(&model.bgnbd, config.horizon(), &obs)?
    };
    // Gamma-Gamma's mean may not exist for a thin-tailed fit; fall back on the customer's own mean.
    let expected_spend = model
        .spend
        .expected_spend(history.purchases, history.mean_spend())
        .unwrap_or_else(|| history.mean_spend().max(0.0));
    Ok(Figures {
        p_alive: model.bgnbd.p_alive(&obs),
        expected_purchases,
        discounted_purchases: discounted,
        expected_spend,
        expected_value: discounted * expected_spend,
    })
}

fn expected(bgnbd: &BgNbd, t: f64, obs: &Observation) -> Result<f64> {
    bgnbd.expected_purchases(t, obs).ok_or_else(|| {
        PluginError::InvalidInput(format!(
            "expected purchases over {t:.1} time units cannot be computed for this history \
             (the horizon is far longer than the model's time scale; shorten horizon_days)"
        ))
    })
}

fn discounted_purchases(config: &Config, bgnbd: &BgNbd, obs: &Observation) -> Result<f64> {
    let horizon = config.horizon();
    if config.annual_discount_rate == 0.0 {
        return expected(bgnbd, horizon, obs);
    }
    let steps = (f64::from(config.horizon_days) / (DAYS_PER_YEAR / 12.0))
        .ceil()
        .max(1.0) as u32;
    let ln_growth = config.annual_discount_rate.ln_1p();
    let mut total = 0.0;
    let mut before = 0.0;
    for k in 1..=steps {
        let t = horizon * f64::from(k) / f64::from(steps);
        let now = expected(bgnbd, t, obs)?;
        let mid_days = (t - horizon / (2.0 * f64::from(steps))) * config.time_unit.days();
        total += (now - before) * (-ln_growth * mid_days / DAYS_PER_YEAR).exp();
        before = now;
    }
    Ok(total)
}

fn fit_error(model: &str, err: FitError) -> PluginError {
    PluginError::InvalidInput(format!("cannot fit {model}: {err}"))
}

impl Plugin for Clv {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("kith.clv", env!("CARGO_PKG_VERSION"), "Customer lifetime value")
            .description(
                "Expected value of each buyer's purchases over a horizon, from BG/NBD (purchase frequency \
                 and dropout) and Gamma-Gamma (spend per purchase) fitted to the tenant's buyers. \
                 Score: expected value in major units of the configured currency; grade: band A (top 20 % \
                 of buyers) to E, or none without purchases.",
            )
            .industries(["retail", "e-commerce"])
            .config_schema(CONFIG_SCHEMA)
            .population(Vec::<String>::new())
    }

    fn populate(config: &Config, input: &PopulationInput) -> Result<Option<Vec<u8>>> {
        config.validate()?;
        let mut histories: Vec<History> = Vec::with_capacity(input.customers.len());
        for c in &input.customers {
            histories.extend(config.history(&c.aggregates, input.now)?);
        }
        if histories.is_empty() {
            return Ok(None);
        }
        let observations: Vec<Observation> = histories
            .iter()
            .map(|h| Observation {
                frequency: h.frequency,
                recency: h.recency,
                age: h.age,
            })
            .collect();
        let spends: Vec<Spend> = histories
            .iter()
            .map(|h| Spend {
                purchases: h.purchases,
                mean: h.mean_spend(),
            })
            .collect();
        let bgnbd = BgNbd::fit(&observations).map_err(|e| fit_error("BG/NBD", e))?;
        let spend = GammaGamma::fit(&spends).map_err(|e| match e {
            FitError::NoData => PluginError::InvalidInput(format!(
                "cannot fit Gamma-Gamma: no buyer has a positive purchase total in {}",
                config.currency
            )),
            other => fit_error("Gamma-Gamma", other),
        })?;
        let mut model = Model {
            fingerprint: config.fingerprint(),
            now: config.now(input.now)?,
            unit: config.time_unit,
            bgnbd: bgnbd.model,
            spend: spend.model,
            value_cuts: [0.0; 4],
            buyers: bgnbd.customers,
            spenders: spend.customers,
        };
        // Many buyers share a history; forecast each distinct one once.
        let mut cache: BTreeMap<(u64, u64, u64), f64> = BTreeMap::new();
        let mut values = Vec::with_capacity(histories.len());
        for (h, o) in histories.iter().zip(&observations) {
            let key = (o.frequency, o.recency.to_bits(), o.age.to_bits());
            let purchases = match cache.get(&key) {
                Some(p) => *p,
                None => {
                    let p = discounted_purchases(config, &model.bgnbd, o)?;
                    cache.insert(key, p);
                    p
                }
            };
            let spend = model
                .spend
                .expected_spend(h.purchases, h.mean_spend())
                .unwrap_or_else(|| h.mean_spend().max(0.0));
            values.push(purchases * spend);
        }
        model.value_cuts = model::quintile_cuts(values);
        Ok(Some(model.encode()))
    }
}

/// Formats an amount in major units as money of `currency`, rounded to its minor unit.
fn money(major: f64, currency: &str) -> Money {
    let minor = (major * 10f64.powi(currency_exponent(currency) as i32)).round();
    // `as` saturates, and the values here are far inside i64 anyway.
    Money::new(minor as i64, currency)
}

impl Scorer for Clv {
    fn score(config: &Config, input: &CustomerInput) -> Result<ScoreOutput> {
        config.validate()?;
        let Some(history) = config.history(&input.customer.aggregates, input.now)? else {
            return Ok(ScoreOutput::new(0.0).grade("none").reason(
                "no-purchases",
                "no purchases yet, so no value is forecast",
                0.0,
            ));
        };
        let Some(bytes) = &input.model else {
            return Err(PluginError::InvalidInput(
                "no CLV model yet: the population step has not run or found no buyers".to_owned(),
            ));
        };
        let model = Model::decode(bytes)?;
        if model.fingerprint != config.fingerprint() {
            return Err(PluginError::InvalidInput(
                "the CLV model was fitted under another configuration (currency, time unit, horizon, \
                 discount rate or as_of); run the population step again"
                    .to_owned(),
            ));
        }
        let f = figures(config, &model, &history)?;
        let unit = config.time_unit.name();
        let discount = if config.annual_discount_rate > 0.0 {
            format!(
                ", discounted at {}%/year to {:.4} purchases",
                config.annual_discount_rate * 100.0,
                f.discounted_purchases
            )
        } else {
            String::new()
        };
        Ok(ScoreOutput::new(f.expected_value)
            .grade(model.band(f.expected_value))
            .reason(
                "p-alive",
                format!(
                    "P(alive) {:.4}: {} repeat purchases, the latest {:.1} {unit} ago, first {:.1} {unit} ago",
                    f.p_alive,
                    history.frequency,
                    history.age - history.recency,
                    history.age
                ),
                0.0,
            )
            .reason(
                "expected-purchases",
                format!(
                    "{:.4} purchases expected in the next {} days",
                    f.expected_purchases, config.horizon_days
                ),
                0.0,
            )
            .reason(
                "expected-value",
                format!(
                    "expected value {}: {:.4} purchases x {} expected per purchase{discount}",
                    money(f.expected_value, &config.currency),
                    f.expected_purchases,
                    money(f.expected_spend, &config.currency),
                ),
                f.expected_value,
            ))
    }
}

kith_plugin_sdk::export_plugin!(Clv, scorer);

#[cfg(test)]
mod tests;
