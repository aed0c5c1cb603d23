//! Kith reference plugin `kith.lead-score`: a B2B lead score from fit and engagement.
//!
//! - **Fit** (default 50 of the 100 points): industry, country, company size and job-title
//!   seniority, each looked up in a configurable table and weighted. Firmographics are custom
//!   attributes (`industry`, `employees`, `job_title` by default; the names are configurable);
//!   the country is the profile's country field unless an attribute is configured.
//! - **Engagement** (the other 50): each recent interaction that matches a signal (demo
//!   request, meeting, pricing page view, email reply by default) earns its points, halved every
//!   `half_life_days` before the input's `now`; the decayed sum saturates as `1 - e^(-sum/scale)`.
//!
//! The score is 0-100 with grade A-D; reasons list every contribution, largest first, and add
//! up to the score. With lifecycle thresholds configured, a subscriber or lead whose score
//! crosses one is moved forward (to marketing- or sales-qualified) by a `set-lifecycle-stage`
//! action; a customer already at or past that stage is never moved, so re-scoring never repeats
//! the move and never moves anyone backwards.
//!
//! ```
//! use kith_plugin_sdk::testing::{customer, Harness};
//! use kith_plugin_sdk::{AttributeValue, LifecycleStage};
//! use kith_plugin_lead_score::LeadScore;
//!
//! let ada = customer("ada")
//!     .attribute("industry", AttributeValue::Text("Software".into()))
//!     .attribute("employees", AttributeValue::Number(1500.0))
//!     .attribute("job_title", AttributeValue::Text("VP Engineering".into()))
//!     .location("US", "CA", "San Francisco")
//!     .build();
//! let config = r#"{"lifecycle": {"marketing_qualified": 40}}"#;
//! let output = Harness::<LeadScore>::new(config).score(ada).unwrap();
//! assert_eq!(output.grade.as_deref(), Some("C")); // fit 48.1 of 50, no engagement yet
//! let codes: Vec<&str> = output.reasons.iter().map(|r| r.code.as_str()).collect();
//! // Largest contribution first (ties by code): 12.5 points each, the VP title 10.6.
//! assert_eq!(codes, ["fit.company-size", "fit.country", "fit.industry", "fit.seniority", "lifecycle"]);
//! assert_eq!(output.actions.len(), 1, "lead -> marketing-qualified");
//! ```

mod config;
mod engagement;
mod fit;

use kith_plugin_sdk::{
    Action, CustomerInput, LifecycleStage, Manifest, Plugin, Reason, Result, ScoreOutput, Scorer,
    SetLifecycleStage,
};

pub use config::{
    Band, CONFIG_SCHEMA, Config, EngagementConfig, FitConfig, GradesConfig, Level, LifecycleConfig,
    Rules, SeniorityConfig, SignalConfig, SizeConfig, TableConfig,
};
pub use engagement::engagement;
pub use fit::{fit, seniority_level};

/// How many recent interactions the plugin asks for; older ones carry no engagement.
pub const RECENT_INTERACTIONS: u32 = 200;

/// The plugin.
#[derive(Debug)]
pub struct LeadScore;

impl Plugin for LeadScore {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("kith.lead-score", env!("CARGO_PKG_VERSION"), "Lead score")
            .description(
                "B2B lead score 0-100 from fit (industry, country, company size, job-title seniority) \
                 and engagement (demo requests, meetings, pricing page views, email replies, decayed \
                 by a half-life), graded A-D; optionally moves leads to marketing- or sales-qualified.",
            )
            .industries(["b2b", "saas", "software", "professional-services"])
            .config_schema(CONFIG_SCHEMA)
            .recent_interactions(RECENT_INTERACTIONS)
    }
}

impl Scorer for LeadScore {
    fn score(config: &Config, input: &CustomerInput) -> Result<ScoreOutput> {
        let rules = config.rules()?;
        let mut reasons = fit(&rules, &input.customer);
        reasons.extend(engagement(&rules, &input.customer, input.now));
        reasons.sort_by(|a, b| {
            b.contribution
                .total_cmp(&a.contribution)
                .then_with(|| a.code.cmp(&b.code))
        });
        let score = reasons
            .iter()
            .map(|r| r.contribution)
            .sum::<f64>()
            .clamp(0.0, 100.0);
        let grade = match score {
            s if s >= rules.grades[0] => "A",
            s if s >= rules.grades[1] => "B",
            s if s >= rules.grades[2] => "C",
            _ => "D",
        };
        let mut output = ScoreOutput::new(score).grade(grade);
        output.reasons = reasons;
        let current = input.customer.lifecycle_stage;
        if let Some((target, threshold)) = lifecycle_target(&rules, score, current) {
            output.reasons.push(Reason::new(
                "lifecycle",
                format!(
                    "score {score:.1} reached the {} threshold {threshold}: {} -> {}",
                    stage_name(target),
                    stage_name(current),
                    stage_name(target)
                ),
                0.0,
            ));
            output
                .actions
                .push(Action::SetLifecycleStage(SetLifecycleStage {
                    customer: input.customer.reference(),
                    stage: target,
                }));
        }
        Ok(output)
    }
}

/// Position in the funnel of the stages the plugin may move from or to; `None` for stages off
/// the funnel (churned, other), which are never moved.
fn funnel_rank(stage: LifecycleStage) -> Option<u8> {
    use LifecycleStage as S;
    match stage {
        S::Subscriber => Some(0),
        S::Lead => Some(1),
        S::MarketingQualified => Some(2),
        S::SalesQualified => Some(3),
        S::Opportunity => Some(4),
        S::Customer => Some(5),
        S::Evangelist => Some(6),
        S::Churned | S::Other => None,
    }
}

/// The stage a customer at `current` with `score` moves to, with the threshold crossed; `None`
/// when no threshold is crossed or the customer already is at or past it.
pub fn lifecycle_target(
    rules: &Rules,
    score: f64,
    current: LifecycleStage,
) -> Option<(LifecycleStage, f64)> {
    let target = match (rules.sql, rules.mql) {
        (Some(sql), _) if score >= sql => (LifecycleStage::SalesQualified, sql),
        (_, Some(mql)) if score >= mql => (LifecycleStage::MarketingQualified, mql),
        _ => return None,
    };
    (funnel_rank(current)? < funnel_rank(target.0)?).then_some(target)
}

/// The stage's name as in the contract.
fn stage_name(stage: LifecycleStage) -> &'static str {
    use LifecycleStage as S;
    match stage {
        S::Subscriber => "subscriber",
        S::Lead => "lead",
        S::MarketingQualified => "marketing-qualified",
        S::SalesQualified => "sales-qualified",
        S::Opportunity => "opportunity",
        S::Customer => "customer",
        S::Evangelist => "evangelist",
        S::Churned => "churned",
        S::Other => "other",
    }
}

kith_plugin_sdk::export_plugin!(LeadScore, scorer);

#[cfg(test)]
mod tests;
