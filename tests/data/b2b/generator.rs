//! Generates the B2B validation data set in this directory (see `README.md` here for the
//! generative process). Compiled into `tests/tests/suite/b2b_pack.rs` with `#[path]`; that file's
//! `committed_b2b_data_set_is_what_the_generator_writes` test fails when the CSV files and
//! this generator disagree, and rewrites them when `KITH_WRITE_B2B_DATA=1`.
//!
//! The random numbers come from SplitMix64 written out here, not from a crate, so the data
//! set depends on nothing but this file and the seed.

use std::fmt::Write as _;

/// The seed of the committed data set.
pub const SEED: u64 = 20_251_123;

/// Number of leads in the committed data set.
pub const LEADS: usize = 1_000;

/// Industries with their affinity to latent quality (positive: more likely for good leads).
const INDUSTRIES: [(&str, f64); 9] = [
    ("Software", 1.0),
    ("Financial Services", 0.8),
    ("Healthcare", 0.6),
    ("Professional Services", 0.4),
    ("Manufacturing", 0.1),
    ("Retail", -0.3),
    ("Education", -0.5),
    ("Hospitality", -0.8),
    ("Nonprofit", -1.0),
];

/// Countries with a base weight (log scale) and their affinity to latent quality.
const COUNTRIES: [(&str, f64, f64); 12] = [
    ("US", 1.0, 0.8),
    ("GB", 0.5, 0.6),
    ("CA", 0.0, 0.5),
    ("DE", 0.5, 0.5),
    ("NL", 0.0, 0.4),
    ("AU", 0.0, 0.3),
    ("FR", 0.0, 0.2),
    ("ES", 0.0, -0.2),
    ("IT", 0.0, -0.2),
    ("BR", 0.0, -0.5),
    ("IN", 0.3, -0.5),
    ("MX", 0.0, -0.6),
];

/// Job titles per seniority level, lowest level first.
const TITLES: [&[&str]; 6] = [
    &["Marketing Intern", "Student", "Sales Assistant"],
    &[
        "Software Engineer",
        "Analyst",
        "Account Executive",
        "Consultant",
    ],
    &["Marketing Manager", "IT Manager", "Team Lead"],
    &["Director of IT", "Sales Director", "Director of Operations"],
    &[
        "VP Sales",
        "Vice President Operations",
        "Head of Engineering",
    ],
    &["CEO", "Chief Technology Officer", "Founder", "CFO"],
];

/// Mean count, kind, direction and attribute of one kind of interaction.
type TouchKind = (
    f64,
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

/// SplitMix64: tiny, fast, and fully specified by its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Poisson with mean `lambda` (Knuth's method; lambda is small here).
    pub fn poisson(&mut self, lambda: f64) -> u32 {
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = self.uniform();
        while p > limit {
            k += 1;
            p *= self.uniform();
        }
        k
    }

    /// Index drawn with probability proportional to `exp(logits[i])`.
    pub fn softmax_pick(&mut self, logits: &[f64]) -> usize {
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let mut u = self.uniform() * weights.iter().sum::<f64>();
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        weights.len() - 1
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
}

/// One generated lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    /// `lead-0001` ...
    pub id: String,
    /// The latent quality the rest is drawn from (standard normal).
    pub quality: f64,
    /// Industry, if known.
    pub industry: Option<String>,
    /// Number of employees, if known.
    pub employees: Option<u32>,
    /// ISO country code, if known.
    pub country: Option<String>,
    /// Job title, if known.
    pub job_title: Option<String>,
    /// `won` or `lost` when the lead had a deal that closed.
    pub outcome: Option<&'static str>,
}

/// One generated interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    /// The lead's id.
    pub lead: String,
    /// Interaction kind in kebab case.
    pub kind: &'static str,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// Days before the data set's "now" (2025-01-01T00:00:00Z), two decimals.
    pub days_ago: f64,
    /// One attribute of the interaction, if any: (name, text).
    pub attribute: Option<(&'static str, &'static str)>,
}

/// The whole data set.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSet {
    /// The leads.
    pub leads: Vec<Lead>,
    /// Their interactions.
    pub touches: Vec<Touch>,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Draws `leads` leads with `seed` (see README.md for the process).
pub fn generate(seed: u64, leads: usize) -> DataSet {
    let mut rng = Rng::new(seed);
    let mut data = DataSet {
        leads: Vec::with_capacity(leads),
        touches: Vec::new(),
    };
    for n in 1..=leads {
        let id = format!("lead-{n:04}");
        let q = rng.normal();
        let industry_logits: Vec<f64> = INDUSTRIES.iter().map(|(_, a)| 1.2 * q * a).collect();
        let industry = INDUSTRIES[rng.softmax_pick(&industry_logits)].0;
        let employees = 10f64
            .powf(1.9 + 0.55 * q + 0.45 * rng.normal())
            .round()
            .clamp(1.0, 50_000.0) as u32;
        let country_logits: Vec<f64> = COUNTRIES.iter().map(|(_, b, a)| b + 0.8 * q * a).collect();
        let country = COUNTRIES[rng.softmax_pick(&country_logits)].0;
        let level = (1.6 + 0.9 * q + rng.normal()).round().clamp(0.0, 5.0) as usize;
        let titles = TITLES[level];
        let title = titles[(rng.next_u64() % titles.len() as u64) as usize];
        let industry = (!rng.chance(0.05)).then(|| industry.to_owned());
        let employees = (!rng.chance(0.08)).then_some(employees);
        let country = (!rng.chance(0.03)).then(|| country.to_owned());
        let job_title = (!rng.chance(0.08)).then(|| title.to_owned());

        let intent = (0.9 * q - 0.3).exp();
        let mean_age = 45.0 * (-0.4 * q).exp();
        let mut touch = |rng: &mut Rng, kind, direction, attribute| {
            let days_ago = (-mean_age * (1.0 - rng.uniform()).ln()).min(365.0);
            data.touches.push(Touch {
                lead: id.clone(),
                kind,
                direction,
                days_ago: (days_ago * 100.0).round() / 100.0,
                attribute,
            });
        };
        let signals: [TouchKind; 7] = [
            (
                0.25 * intent,
                "form-submission",
                "inbound",
                Some(("form", "Request a demo")),
            ),
            (0.35 * intent, "meeting", "outbound", None),
            (
                0.9 * intent,
                "page-view",
                "inbound",
                Some(("url", "/pricing")),
            ),
            (0.8 * intent, "email", "inbound", None),
            (1.0, "page-view", "inbound", Some(("url", "/blog/crm-tips"))),
            (
                0.3,
                "form-submission",
                "inbound",
                Some(("form", "Newsletter signup")),
            ),
            (1.5, "email", "outbound", None),
        ];
        for (mean, kind, direction, attribute) in signals {
            for _ in 0..rng.poisson(mean) {
                touch(&mut rng, kind, direction, attribute);
            }
        }
        let outcome = rng.chance(0.7).then(|| {
            if rng.chance(sigmoid(-0.7 + 1.5 * q)) {
                "won"
            } else {
                "lost"
            }
        });
        data.leads.push(Lead {
            id,
            quality: (q * 10_000.0).round() / 10_000.0,
            industry,
            employees,
            country,
            job_title,
            outcome,
        });
    }
    data
}

/// Header of `leads.csv`.
pub const LEADS_HEADER: &str = "id,quality,industry,employees,country,job_title,outcome";

/// Header of `interactions.csv`.
pub const TOUCHES_HEADER: &str = "lead_id,kind,direction,days_ago,attribute,value";

impl DataSet {
    /// `leads.csv`: one line per lead; empty fields are unknown.
    pub fn leads_csv(&self) -> String {
        let mut out = format!("{LEADS_HEADER}\n");
        for l in &self.leads {
            let _ = writeln!(
                out,
                "{},{:.4},{},{},{},{},{}",
                l.id,
                l.quality,
                l.industry.as_deref().unwrap_or(""),
                l.employees.map(|e| e.to_string()).unwrap_or_default(),
                l.country.as_deref().unwrap_or(""),
                l.job_title.as_deref().unwrap_or(""),
                l.outcome.unwrap_or(""),
            );
        }
        out
    }

    /// `interactions.csv`: one line per interaction.
    pub fn touches_csv(&self) -> String {
        let mut out = format!("{TOUCHES_HEADER}\n");
        for t in &self.touches {
            let (name, value) = t.attribute.unwrap_or(("", ""));
            let _ = writeln!(
                out,
                "{},{},{},{:.2},{name},{value}",
                t.lead, t.kind, t.direction, t.days_ago
            );
        }
        out
    }
}
