//! The demo data set, planned before anything is written: organizations with their contacts (B2B
//! leads with firmographics and engagement), retail shoppers (purchases, refunds, survey answers),
//! and deals in two pipelines. Deterministic: the same seed gives the same people, amounts and
//! outcomes; only the dates move with "now", so the data always looks recent.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::model::{
    AttributeValue, Channel, Currency, CustomerId, CustomerInput, CustomerKind, Date, Direction,
    InteractionInput, InteractionKind, LifecycleStage, Money, PipelineInput, Priority, Role,
    StageCategory, StageInput, TaskStatus, Timestamp,
};
use crate::store::Error as StoreError;
use crate::{Error, Result};

/// The fixed seed ("kithdemo" in ASCII).
const SEED: u64 = 0x6b69_7468_6465_6d6f;

const DAY_MICROS: f64 = 86_400_000_000.0;

/// How far back the shoppers' histories reach, in days.
const HISTORY_DAYS: f64 = 730.0;

/// The shape p of each customer's spend per purchase (Gamma-Gamma), for shoppers and accounts.
const SPEND_SHAPE: u32 = 6;

/// Retail shoppers (people without an organization).
const SHOPPERS: usize = 190;

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, and varied enough for a demo.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..hi`.
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n.saturating_sub(1))
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Exponentially distributed with this mean.
    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Gamma distributed with an integer shape and this mean (a sum of `shape` exponentials).
    fn gamma(&mut self, shape: u32, mean: f64) -> f64 {
        let each = mean / f64::from(shape.max(1));
        (0..shape.max(1)).map(|_| self.exponential(each)).sum()
    }
}

/// A customer to create. `organization` is the index of an organization planned before it.
#[derive(Debug)]
pub(super) struct PlannedCustomer {
    pub(super) input: CustomerInput,
    pub(super) organization: Option<usize>,
}

/// An interaction of a planned customer (by index), dated relative to "now".
#[derive(Debug)]
pub(super) struct Touch {
    customer: usize,
    channel: Channel,
    kind: InteractionKind,
    direction: Direction,
    days_ago: f64,
    subject: Option<String>,
    amount_minor: Option<i64>,
    rating: Option<u8>,
    due_in_days: Option<f64>,
    attributes: Vec<(&'static str, AttributeValue)>,
    work: Option<Work>,
    /// Linked to the customer's deal, once written.
    on_deal: bool,
}

/// How a demo work item went: who has it, how urgent, and when (relative to its opening) it
/// was due, first answered and resolved; times still in the future have not happened yet.
#[derive(Debug, Clone)]
struct Work {
    assignee: Option<&'static str>,
    priority: Priority,
    category: Option<&'static str>,
    due_after_days: f64,
    answered_after_hours: Option<f64>,
    resolved_after_days: Option<f64>,
    closed: bool,
}

impl Touch {
    fn new(customer: usize, channel: Channel, kind: InteractionKind, days_ago: f64) -> Self {
        Self {
            customer,
            channel,
            kind,
            direction: Direction::Inbound,
            days_ago: days_ago.max(0.0),
            subject: None,
            amount_minor: None,
            rating: None,
            due_in_days: None,
            attributes: Vec::new(),
            work: None,
            on_deal: false,
        }
    }

    fn outbound(mut self) -> Self {
        self.direction = Direction::Outbound;
        self
    }

    fn subject(mut self, s: impl Into<String>) -> Self {
        self.subject = Some(s.into());
        self
    }

    fn text(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.attributes
            .push((key, AttributeValue::Text(value.into())));
        self
    }

    /// The planned customer it belongs to.
    pub(super) fn customer(&self) -> usize {
        self.customer
    }

    /// Whether it is about the customer's deal.
    pub(super) fn on_deal(&self) -> bool {
        self.on_deal
    }

    /// The input for the store, for the customer's real id.
    pub(super) fn input(&self, customer: CustomerId, now: Timestamp) -> Result<InteractionInput> {
        let usd = Currency::parse("currency", "USD")?;
        let at = |days: f64| now.plus_micros((days * DAY_MICROS) as i64);
        let mut input = InteractionInput::new(customer, self.channel, self.kind);
        input.direction = Some(self.direction);
        input.occurred_at = Some(at(-self.days_ago));
        input.subject.clone_from(&self.subject);
        input.amount = self.amount_minor.map(|m| Money::new(m, usd));
        input.rating = self.rating;
        if let Some(days) = self.due_in_days {
            input.due_at = Some(at(days));
            input.status = Some(TaskStatus::Open);
        }
        input.attributes = self
            .attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        if let Some(w) = &self.work {
            let opened = at(-self.days_ago);
            let after = |days: f64| opened.plus_micros((days * DAY_MICROS) as i64);
            input.assignee = w.assignee.map(str::to_owned);
            input.priority = Some(w.priority);
            input.category = w.category.map(str::to_owned);
            input.due_at = Some(after(w.due_after_days));
            let answered = w.answered_after_hours.map(|h| after(h / 24.0));
            let resolved = w.resolved_after_days.map(after);
            input.status = Some(if let Some(resolved) = resolved.filter(|r| *r <= now) {
                input.first_answered_at = Some(answered.map_or(resolved, |a| a.min(resolved)));
                input.resolved_at = Some(resolved);
                if w.closed {
                    TaskStatus::Closed
                } else {
                    TaskStatus::Resolved
                }
            } else if let Some(answered) = answered.filter(|a| *a <= now) {
                input.first_answered_at = Some(answered);
                TaskStatus::InProgress
            } else {
                TaskStatus::Open
            });
        }
        Ok(input)
    }
}

/// A deal: created in `path[0]` of its pipeline, then moved through the rest of `path`.
#[derive(Debug)]
pub(super) struct PlannedDeal {
    pub(super) customer: usize,
    pub(super) pipeline: usize,
    pub(super) title: String,
    pub(super) amount_minor: i64,
    pub(super) owner: &'static str,
    pub(super) path: Vec<usize>,
    /// Days from now to the expected close, for open deals.
    pub(super) closes_in_days: Option<i32>,
}

/// Everything the demo tenant holds, before it is written.
#[derive(Debug)]
pub(super) struct Plan {
    /// Customers; an organization comes before the people linked to it.
    pub(super) customers: Vec<PlannedCustomer>,
    pub(super) touches: Vec<Touch>,
    pub(super) pipelines: Vec<PipelineInput>,
    pub(super) deals: Vec<PlannedDeal>,
}

/// The "New business" pipeline: (name, probability, category).
const NEW_BUSINESS: &[(&str, u8, StageCategory)] = &[
    ("Lead", 10, StageCategory::Open),
    ("Qualified", 25, StageCategory::Open),
    ("Demo", 40, StageCategory::Open),
    ("Proposal", 60, StageCategory::Open),
    ("Negotiation", 80, StageCategory::Open),
    ("Won", 100, StageCategory::Won),
    ("Lost", 0, StageCategory::Lost),
];
const NB_WON: usize = 5;
const NB_LOST: usize = 6;

/// The "Renewals" pipeline.
const RENEWALS: &[(&str, u8, StageCategory)] = &[
    ("Up for renewal", 60, StageCategory::Open),
    ("In negotiation", 80, StageCategory::Open),
    ("Renewed", 100, StageCategory::Won),
    ("Churned", 0, StageCategory::Lost),
];
const RN_WON: usize = 2;
const RN_LOST: usize = 3;

const OWNERS: &[&str] = &["ana.rivera", "ben.okafor", "chloe.martin"];

/// The demo's users: the handle [`OWNERS`] names them by, display name and role. Ana manages
/// the Sales team that all three belong to.
pub(super) const USERS: &[(&str, &str, Role)] = &[
    ("ana.rivera", "Ana Rivera", Role::Manager),
    ("ben.okafor", "Ben Okafor", Role::Member),
    ("chloe.martin", "Chloe Martin", Role::Member),
];

/// Organizations: name, industry as the account wrote it, employees, country, city.
const COMPANIES: &[(&str, &str, u32, &str, &str)] = &[
    ("Northwind Analytics", "SaaS", 240, "US", "Seattle"),
    ("Copperleaf Bank", "Banking", 3200, "GB", "London"),
    ("Brightpath Health", "Healthcare", 1500, "US", "Boston"),
    ("Meridian Freight", "Logistics", 410, "NL", "Rotterdam"),
    ("Bluefin Robotics", "Manufacturing", 680, "DE", "Munich"),
    ("Cedar Grove Legal", "Legal", 45, "CA", "Toronto"),
    ("Lumen Learning Labs", "Education", 120, "US", "Austin"),
    ("Harbor & Pine", "Retail", 2300, "US", "Portland"),
    ("Quillstone Media", "Media", 85, "GB", "Manchester"),
    ("Solstice Energy", "Energy", 5200, "NO", "Oslo"),
    ("Orbital Software", "Software", 35, "DE", "Berlin"),
    (
        "Tessellate Studio",
        "Professional Services",
        12,
        "FR",
        "Lyon",
    ),
    ("Granite Insurance Group", "Insurance", 950, "US", "Chicago"),
    ("Kestrel Cloud", "Technology", 1100, "US", "San Francisco"),
    ("Aurora Clinics", "Healthcare", 260, "AU", "Melbourne"),
    ("Fjord Fintech", "Fintech", 70, "SE", "Stockholm"),
    (
        "Ridgeline Manufacturing",
        "Manufacturing",
        3400,
        "US",
        "Detroit",
    ),
    ("Pioneer Schools Trust", "Education", 600, "CA", "Vancouver"),
    ("Saffron Hospitality", "Hospitality", 380, "AE", "Dubai"),
    (
        "Tidewater Telecom",
        "Telecommunications",
        7800,
        "US",
        "Atlanta",
    ),
    ("Verdant Alliance", "Nonprofit", 25, "GB", "Bristol"),
    ("Atlas Property Partners", "Real Estate", 150, "US", "Miami"),
    ("Beacon Consulting", "Consulting", 320, "NL", "Amsterdam"),
    ("Helix Biotech", "Healthcare", 540, "CH", "Basel"),
    (
        "Ironbridge Capital",
        "Financial Services",
        210,
        "US",
        "New York",
    ),
    ("Juniper Crafts", "Arts and crafts", 90, "ES", "Madrid"),
    ("Koala Software", "Software", 18, "AU", "Sydney"),
    ("Lattice Data", "Software", 760, "US", "Denver"),
    (
        "Monarch Air Services",
        "Transportation",
        4100,
        "BR",
        "Sao Paulo",
    ),
    ("Nimbus Workspace", "Software", 150, "IE", "Dublin"),
    ("Oakhurst Works", "Manufacturing", 95, "IT", "Milan"),
    ("Polar Public Services", "Government", 1300, "CA", "Ottawa"),
    ("Redwood Outfitters", "Retail", 640, "US", "Sacramento"),
    ("Sable Security", "Software", 300, "IL", "Tel Aviv"),
    ("Tundra Gear", "Retail", 55, "CA", "Calgary"),
    ("Zephyr Mobility", "Transportation", 220, "DE", "Hamburg"),
];

/// Job titles with a seniority fit from 0 to 1 (how much more often such buyers sign).
const TITLES: &[(&str, f64)] = &[
    ("CEO", 1.0),
    ("Founder", 1.0),
    ("CTO", 1.0),
    ("CFO", 0.9),
    ("Chief Revenue Officer", 1.0),
    ("VP Sales", 0.85),
    ("VP Engineering", 0.85),
    ("Head of Operations", 0.8),
    ("Director of IT", 0.7),
    ("Director of Marketing", 0.65),
    ("Engineering Manager", 0.45),
    ("Sales Manager", 0.45),
    ("Procurement Lead", 0.5),
    ("Data Analyst", 0.2),
    ("Software Engineer", 0.2),
    ("Account Executive", 0.25),
    ("Marketing Assistant", 0.05),
    ("Junior Developer", 0.05),
    ("Intern", 0.0),
];

const FIRST_NAMES: &[(&str, &str)] = &[
    ("Ada", "female"),
    ("Alan", "male"),
    ("Grace", "female"),
    ("Linus", "male"),
    ("Margaret", "female"),
    ("Tim", "male"),
    ("Hedy", "female"),
    ("Katherine", "female"),
    ("Dorothy", "female"),
    ("Edsger", "male"),
    ("Barbara", "female"),
    ("Donald", "male"),
    ("Frances", "female"),
    ("John", "male"),
    ("Radia", "female"),
    ("Sophie", "female"),
    ("Ken", "male"),
    ("Dennis", "male"),
    ("Anita", "female"),
    ("Guido", "male"),
    ("Lena", "female"),
    ("Marta", "female"),
    ("Jonas", "male"),
    ("Lukas", "male"),
    ("Emma", "female"),
    ("Olivia", "female"),
    ("Noah", "male"),
    ("Liam", "male"),
    ("Mia", "female"),
    ("Sofia", "female"),
    ("Mateo", "male"),
    ("Lucas", "male"),
    ("Chloe", "female"),
    ("Amelie", "female"),
    ("Hugo", "male"),
    ("Louis", "male"),
    ("Ines", "female"),
    ("Aisha", "female"),
    ("Omar", "male"),
    ("Priya", "female"),
    ("Arjun", "male"),
    ("Mei", "female"),
    ("Hiroshi", "male"),
    ("Yuki", "non-binary"),
    ("Wei", "male"),
    ("Fatima", "female"),
    ("Kwame", "male"),
    ("Amara", "female"),
    ("Diego", "male"),
    ("Valentina", "female"),
    ("Camila", "female"),
    ("Santiago", "male"),
    ("Elena", "female"),
    ("Ivan", "male"),
    ("Olga", "female"),
    ("Sven", "male"),
    ("Freya", "female"),
    ("Nora", "female"),
    ("Erik", "male"),
    ("Isla", "female"),
    ("Finn", "male"),
    ("Alex", "diverse"),
    ("Sam", "prefer not to say"),
    ("Robin", "non-binary"),
];

const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Lamarr",
    "Johnson",
    "Vaughan",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Backus",
    "Perlman",
    "Wilson",
    "Keller",
    "Thompson",
    "Ritchie",
    "Borg",
    "van Rossum",
    "Schmidt",
    "Garcia",
    "Martinez",
    "Rossi",
    "Bianchi",
    "Dubois",
    "Bernard",
    "Novak",
    "Kowalski",
    "Nielsen",
    "Larsen",
    "Andersson",
    "Johansson",
    "Silva",
    "Santos",
    "Oliveira",
    "Costa",
    "Kim",
    "Park",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Wang",
    "Li",
    "Zhang",
    "Patel",
    "Sharma",
    "Singh",
    "Okafor",
    "Mensah",
    "Diallo",
    "Haddad",
    "Cohen",
    "O'Brien",
    "Murphy",
    "Walsh",
    "Fischer",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Klein",
    "Wolf",
    "Nakamura",
];

/// Shoppers' countries and a city in each.
const SHOPPER_PLACES: &[(&str, &str)] = &[
    ("US", "New York"),
    ("US", "Chicago"),
    ("US", "Los Angeles"),
    ("US", "Houston"),
    ("CA", "Montreal"),
    ("GB", "London"),
    ("GB", "Leeds"),
    ("DE", "Berlin"),
    ("DE", "Cologne"),
    ("FR", "Paris"),
    ("NL", "Utrecht"),
    ("ES", "Barcelona"),
    ("IT", "Turin"),
    ("SE", "Gothenburg"),
    ("AU", "Brisbane"),
    ("JP", "Osaka"),
    ("BR", "Rio de Janeiro"),
    ("MX", "Guadalajara"),
    ("IN", "Bengaluru"),
    ("ZA", "Cape Town"),
];

const MAIL_DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

const LEAD_SOURCES: &[&str] = &["website", "webinar", "referral", "trade-show", "outbound"];

const PRODUCTS: &[&str] = &[
    "Merino wool scarf",
    "Trail running shoes",
    "Ceramic pour-over set",
    "Linen shirt",
    "Canvas backpack",
    "Reading lamp",
    "Rain jacket",
    "Cast-iron skillet",
    "Yoga mat",
    "Leather notebook",
];

/// Lower-case letters and digits of a name, for email addresses.
fn slug(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A price in minor units that looks like a price (`49.90`, `120.00`, `18.99`).
fn price(rng: &mut Rng, dollars: f64) -> i64 {
    let cents = rng.pick(&[0, 50, 90, 99]);
    (dollars.max(1.0) as i64) * 100 + cents
}

fn text(s: &str) -> AttributeValue {
    AttributeValue::Text(s.to_owned())
}

/// The pipelines, in [`Plan::deals`]' `pipeline` index order.
fn pipelines() -> Vec<PipelineInput> {
    let input = |name: &str, stages: &[(&str, u8, StageCategory)]| PipelineInput {
        lost_reasons: Vec::new(),
        name: name.to_owned(),
        stages: stages
            .iter()
            .map(|&(name, probability, category)| StageInput {
                name: name.to_owned(),
                probability,
                category,
            })
            .collect(),
    };
    vec![
        input("New business", NEW_BUSINESS),
        input("Renewals", RENEWALS),
    ]
}

/// Builds the plan with dates relative to `now`.
pub(super) fn plan(now: Timestamp) -> Result<Plan> {
    let mut b = Builder {
        rng: Rng(SEED),
        work: Rng(SEED ^ WORK_SEED),
        emails: HashSet::new(),
        plan: Plan {
            customers: Vec::new(),
            touches: Vec::new(),
            pipelines: pipelines(),
            deals: Vec::new(),
        },
    };
    let mut contacts = Vec::new();
    for company in COMPANIES {
        let org = b.organization(company);
        let n = 1 + b.rng.below(4);
        for _ in 0..n {
            contacts.push(b.contact(org, company));
        }
    }
    for contact in contacts {
        b.engage(contact);
    }
    for _ in 0..SHOPPERS {
        b.shopper(now)?;
    }
    Ok(b.plan)
}

/// Mixed into the seed of the work items' own generator, so that adding them left every
/// other demo record as it was.
const WORK_SEED: u64 = 0x776f_726b;

/// Complaint categories, most frequent first.
const COMPLAINT_CATEGORIES: &[&str] = &[
    "delivery",
    "delivery",
    "delivery",
    "product quality",
    "product quality",
    "billing",
    "service",
];

struct Builder {
    rng: Rng,
    /// Draws for work items only (see [`WORK_SEED`]).
    work: Rng,
    emails: HashSet<String>,
    plan: Plan,
}

/// What `contact` decided for a B2B lead, for `engage` to give it matching activity.
struct Contact {
    index: usize,
    /// 0 to 1: how good a fit the lead is (seniority, size, industry), with some noise.
    quality: f64,
    /// The New business stage its deal ended in, if it has one.
    stage: Option<usize>,
}

impl Builder {
    fn push(&mut self, input: CustomerInput, organization: Option<usize>) -> usize {
        self.plan.customers.push(PlannedCustomer {
            input,
            organization,
        });
        self.plan.customers.len() - 1
    }

    /// A unique address `local@domain`, numbered when taken.
    fn email(&mut self, local: &str, domain: &str) -> String {
        let mut candidate = format!("{local}@{domain}");
        let mut n = 2;
        while !self.emails.insert(candidate.clone()) {
            candidate = format!("{local}{n}@{domain}");
            n += 1;
        }
        candidate
    }

    fn organization(&mut self, company: &(&str, &str, u32, &str, &str)) -> usize {
        let &(name, industry, employees, country, city) = company;
        let domain = format!("{}.example", slug(name.split(' ').next().unwrap_or(name)));
        let email = self.email("hello", &domain);
        let customer = self.rng.chance(0.55);
        let mut attributes = BTreeMap::new();
        attributes.insert("industry".to_owned(), text(industry));
        attributes.insert(
            "employees".to_owned(),
            AttributeValue::Number(employees.into()),
        );
        attributes.insert("website".to_owned(), text(&format!("https://{domain}")));
        let input = CustomerInput {
            kind: CustomerKind::Organization,
            name: Some(name.to_owned()),
            email: Some(email),
            country: Some(country.to_owned()),
            city: Some(city.to_owned()),
            lifecycle: Some(if customer {
                LifecycleStage::Customer
            } else {
                LifecycleStage::Opportunity
            }),
            tags: vec!["b2b".into(), "account".into()],
            attributes,
            owner: Some(self.rng.pick(OWNERS).to_owned()),
            ..CustomerInput::default()
        };
        let index = self.push(input, None);
        if customer {
            self.subscription(index, employees);
        }
        index
    }

    /// A paying account: quarterly invoices since it signed, and a deal in Renewals.
    fn subscription(&mut self, org: usize, employees: u32) {
        let quarterly = (f64::from(employees) * self.rng.between(4.0, 9.0)).max(900.0);
        let mut days_ago = self.rng.between(120.0, HISTORY_DAYS);
        while days_ago > 0.0 {
            let mut t = Touch::new(org, Channel::Other, InteractionKind::Purchase, days_ago)
                .subject("Quarterly subscription invoice")
                .text("plan", "business");
            // Usage-based: invoices vary around the account's usual amount.
            let amount = self.rng.gamma(SPEND_SHAPE, quarterly);
            t.amount_minor = Some(price(&mut self.rng, amount));
            self.plan.touches.push(t);
            days_ago -= self.rng.between(85.0, 97.0);
        }
        let roll = self.rng.unit();
        let path = if roll < 0.40 {
            vec![0, 1, RN_WON]
        } else if roll < 0.55 {
            vec![0, 1, RN_LOST]
        } else if roll < 0.80 {
            vec![0, 1]
        } else {
            vec![0]
        };
        let open = path.last().is_some_and(|&s| s < RN_WON);
        let deal = PlannedDeal {
            customer: org,
            pipeline: 1,
            title: "Annual renewal".to_owned(),
            amount_minor: price(&mut self.rng, quarterly * 4.0),
            owner: self.rng.pick(OWNERS),
            path,
            closes_in_days: open.then(|| 10 + self.rng.below(80) as i32),
        };
        if !open {
            let deal_won = deal.path.last() == Some(&RN_WON);
            if !deal_won {
                self.plan.customers[org].input.lifecycle = Some(LifecycleStage::Churned);
            }
        }
        self.plan.deals.push(deal);
    }

    /// A lead at `org`, with a New business deal more often than not; the better the fit, the
    /// further it got and the likelier it was won.
    fn contact(&mut self, org: usize, company: &(&str, &str, u32, &str, &str)) -> Contact {
        let &(name, industry, employees, country, city) = company;
        let (first, _) = self.rng.pick(FIRST_NAMES);
        let last = self.rng.pick(LAST_NAMES);
        let (title, seniority) = self.rng.pick(TITLES);
        let domain = format!("{}.example", slug(name.split(' ').next().unwrap_or(name)));
        let email = self.email(&format!("{}.{}", slug(first), slug(last)), &domain);
        let size_fit = match employees {
            1000.. => 1.0,
            200.. => 0.8,
            50.. => 0.55,
            _ => 0.25,
        };
        let industry_fit = match industry {
            "Software" | "SaaS" | "Technology" => 1.0,
            "Banking" | "Fintech" | "Financial Services" | "Insurance" => 0.8,
            "Healthcare" => 0.7,
            _ => 0.35,
        };
        let quality =
            0.35 * seniority + 0.25 * size_fit + 0.2 * industry_fit + 0.2 * self.rng.unit();
        let stage = self.rng.chance(0.65).then(|| {
            if self.rng.chance(0.5) {
                // Closed: won when the fit (plus luck) is good.
                if quality + self.rng.between(-0.15, 0.15) > 0.55 {
                    NB_WON
                } else {
                    NB_LOST
                }
            } else {
                ((quality * 5.0 + self.rng.between(-1.0, 1.0)).round() as usize).min(NB_WON - 1)
            }
        });
        let mut attributes = BTreeMap::new();
        attributes.insert("industry".to_owned(), text(industry));
        attributes.insert(
            "employees".to_owned(),
            AttributeValue::Number(employees.into()),
        );
        attributes.insert("job_title".to_owned(), text(title));
        attributes.insert("lead_source".to_owned(), text(self.rng.pick(LEAD_SOURCES)));
        let lifecycle = match stage {
            Some(NB_WON) => LifecycleStage::Customer,
            Some(NB_LOST) => LifecycleStage::Other,
            Some(_) => LifecycleStage::Opportunity,
            None if self.rng.chance(0.3) => LifecycleStage::Subscriber,
            None => LifecycleStage::Lead,
        };
        match stage {
            Some(NB_WON) => attributes.insert("deal_outcome".to_owned(), text("won")),
            Some(NB_LOST) => attributes.insert("deal_outcome".to_owned(), text("lost")),
            _ => None,
        };
        let owner = self.plan.customers[org].input.owner.clone();
        let input = CustomerInput {
            first_name: Some(first.to_owned()),
            last_name: Some(last.to_owned()),
            email: Some(email),
            country: Some(country.to_owned()),
            city: Some(city.to_owned()),
            lifecycle: Some(lifecycle),
            tags: vec!["b2b".into()],
            attributes,
            owner: owner.clone(),
            marketing_consent: self.rng.chance(0.6),
            ..CustomerInput::default()
        };
        let index = self.push(input, Some(org));
        if let Some(stage) = stage {
            let path = match stage {
                NB_LOST => {
                    let reached = self.rng.below(NB_WON);
                    (0..=reached).chain([NB_LOST]).collect()
                }
                s => (0..=s).collect(),
            };
            let amount = f64::from(employees).sqrt() * self.rng.between(600.0, 1400.0);
            self.plan.deals.push(PlannedDeal {
                customer: index,
                pipeline: 0,
                title: format!("{name}: {} seats", 5 * (1 + employees / 40)),
                amount_minor: price(&mut self.rng, amount),
                owner: OWNERS
                    .iter()
                    .find(|o| Some(**o) == owner.as_deref())
                    .copied()
                    .unwrap_or(OWNERS[0]),
                path,
                closes_in_days: (stage < NB_WON).then(|| 7 + self.rng.below(90) as i32),
            });
        }
        Contact {
            index,
            quality,
            stage,
        }
    }

    /// A lead's touchpoints: page views, demo requests, emails, meetings and calls, more and more
    /// recent the better the lead and the further its deal got.
    fn engage(&mut self, c: Contact) {
        let progress = match c.stage {
            Some(NB_WON) => 1.0,
            Some(NB_LOST) => 0.4,
            Some(s) => s as f64 / NB_WON as f64,
            None => 0.0,
        };
        let engagement = (0.5 * c.quality + 0.3 * progress + 0.2 * self.rng.unit()).min(1.0);
        // Closed deals were worked on a while ago; open ones now.
        let (recent, spread) = match c.stage {
            Some(NB_WON | NB_LOST) => (self.rng.between(60.0, 300.0), 60.0),
            _ => (0.0, 20.0 + 80.0 * (1.0 - engagement)),
        };
        let when = |rng: &mut Rng| recent + rng.exponential(spread);
        let i = c.index;
        for _ in 0..(1 + (engagement * 9.0) as usize) {
            let page = if self.rng.chance(0.4) {
                "https://kith.example/pricing"
            } else {
                self.rng.pick(&[
                    "https://kith.example/docs/plugins",
                    "https://kith.example/blog/rfm-in-practice",
                    "https://kith.example/customers",
                    "https://kith.example/",
                ])
            };
            let t = Touch::new(
                i,
                Channel::Web,
                InteractionKind::PageView,
                when(&mut self.rng),
            )
            .text("url", page);
            self.plan.touches.push(t);
        }
        if self.rng.chance(0.2 + 0.6 * engagement) {
            let t = Touch::new(
                i,
                Channel::Web,
                InteractionKind::FormSubmission,
                when(&mut self.rng),
            )
            .subject("Book a demo")
            .text("form", "demo-request");
            self.plan.touches.push(t);
        }
        if self.rng.chance(0.3) {
            let t = Touch::new(
                i,
                Channel::Web,
                InteractionKind::FormSubmission,
                when(&mut self.rng),
            )
            .subject("Whitepaper: scoring customers with plugins")
            .text("form", "whitepaper-download");
            self.plan.touches.push(t);
        }
        for _ in 0..(1 + self.rng.below(3)) {
            let t = Touch::new(
                i,
                Channel::Email,
                InteractionKind::Email,
                when(&mut self.rng),
            )
            .outbound()
            .subject(self.rng.pick(&[
                "Following up on your visit",
                "Your trial: next steps",
                "Case study: Northwind Analytics",
            ]));
            self.plan.touches.push(t);
        }
        for _ in 0..((engagement * 4.0) as usize) {
            let t = Touch::new(
                i,
                Channel::Email,
                InteractionKind::Email,
                when(&mut self.rng),
            )
            .subject("Re: Following up on your visit");
            self.plan.touches.push(t);
        }
        let meetings = match c.stage {
            Some(NB_WON) => 3 + self.rng.below(3),
            Some(NB_LOST) => self.rng.below(3),
            Some(s) => s.saturating_sub(1),
            None => usize::from(self.rng.chance(0.1)),
        };
        for _ in 0..meetings {
            let channel = if self.rng.chance(0.3) {
                Channel::InPerson
            } else {
                Channel::Other
            };
            let t = Touch::new(i, channel, InteractionKind::Meeting, when(&mut self.rng))
                .outbound()
                .subject(self.rng.pick(&[
                    "Discovery call",
                    "Product demo",
                    "Security review",
                    "Pricing discussion",
                ]));
            self.plan.touches.push(t);
        }
        if self.rng.chance(0.4) {
            let t = Touch::new(
                i,
                Channel::Phone,
                InteractionKind::Call,
                when(&mut self.rng),
            )
            .outbound()
            .subject("Intro call");
            self.plan.touches.push(t);
        }
        if matches!(c.stage, Some(s) if (3..NB_WON).contains(&s)) {
            let mut t = Touch::new(i, Channel::Other, InteractionKind::Task, 1.0)
                .outbound()
                .subject("Follow up on the proposal");
            t.due_in_days = Some(self.rng.between(1.0, 10.0));
            let owner = self.plan.customers[i].input.owner.as_deref();
            t.work = Some(Work {
                assignee: OWNERS.iter().copied().find(|o| Some(*o) == owner),
                priority: if self.work.chance(0.3) {
                    Priority::High
                } else {
                    Priority::Normal
                },
                category: None,
                due_after_days: 1.0 + t.due_in_days.unwrap_or(1.0),
                answered_after_hours: None,
                resolved_after_days: None,
                closed: false,
            });
            t.on_deal = true;
            self.plan.touches.push(t);
        }
        if c.stage == Some(NB_WON) {
            let rating = (6.0 + 4.0 * c.quality + self.rng.between(-1.5, 1.0)).clamp(0.0, 10.0);
            let days_ago = self.rng.between(5.0, 50.0);
            self.survey(i, rating as u8, days_ago);
        }
    }

    /// The complaint that came before a refund, worked by the sales team's members (or not
    /// yet assigned): answered within hours to days, resolved within days, some of it late.
    fn complaint(&mut self, customer: usize, product: &str, refunded_days_ago: f64) {
        let w = &mut self.work;
        let days_ago = refunded_days_ago + w.between(0.5, 4.0);
        let category = w.pick(COMPLAINT_CATEGORIES);
        let priority = w.pick(&[
            Priority::Low,
            Priority::Normal,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ]);
        let urgent = matches!(priority, Priority::High | Priority::Urgent);
        let work = Work {
            assignee: w.pick(&[
                Some("ben.okafor"),
                Some("chloe.martin"),
                Some("chloe.martin"),
                None,
            ]),
            priority,
            category: Some(category),
            due_after_days: if urgent { 1.0 } else { 3.0 },
            answered_after_hours: Some(w.exponential(if urgent { 3.0 } else { 14.0 })),
            // One in five is still being worked on (and late by now).
            resolved_after_days: (!w.chance(0.2))
                .then(|| w.exponential(if category == "billing" { 2.0 } else { 4.0 })),
            closed: w.chance(0.2),
        };
        let mut t = Touch::new(
            customer,
            Channel::Email,
            InteractionKind::Complaint,
            days_ago,
        )
        .subject(format!("Complaint: {product} ({category})"));
        t.work = Some(work);
        self.plan.touches.push(t);
    }

    /// A survey answer ("How likely are you to recommend us?").
    fn survey(&mut self, customer: usize, rating: u8, days_ago: f64) {
        let mut t = Touch::new(
            customer,
            Channel::Email,
            InteractionKind::SurveyResponse,
            days_ago,
        )
        .subject("How likely are you to recommend us?")
        .text("survey", "nps");
        t.rating = Some(rating);
        self.plan.touches.push(t);
    }

    /// A retail shopper: purchases from a BG/NBD-like process (a personal buying rate, a chance
    /// to drop out after each purchase), some refunds, and survey answers.
    fn shopper(&mut self, now: Timestamp) -> Result<()> {
        let (first, gender) = self.rng.pick(FIRST_NAMES);
        let last = self.rng.pick(LAST_NAMES);
        let (country, city) = self.rng.pick(SHOPPER_PLACES);
        let domain = self.rng.pick(MAIL_DOMAINS);
        let email = self.email(&format!("{}.{}", slug(first), slug(last)), domain);
        let age_days = self.rng.between(18.5, 78.0) * 365.25;
        let birth = Date::from_days(now.date().days() - age_days as i32);
        let consent = self.rng.chance(0.55);
        let index = self.plan.customers.len();

        // Purchases, one per day at most (the CLV models count purchase days).
        let mut days = BTreeSet::new();
        if self.rng.chance(0.88) {
            let rate_per_day = self.rng.between(0.1, 1.0).powi(2) / 14.0;
            let dropout = self.rng.between(0.05, 0.45);
            let mut days_ago = self.rng.between(1.0, HISTORY_DAYS);
            while days_ago >= 0.0 {
                days.insert(days_ago as u32);
                if self.rng.chance(dropout) {
                    break;
                }
                days_ago -= self.rng.exponential(1.0 / rate_per_day);
            }
        }
        // Gamma-Gamma spend (Fader, Hardie & Lee 2005): each shopper's purchases are
        // Gamma(p, nu) with nu ~ Gamma(q, gamma) across shoppers, so the CLV model finds what
        // it assumes: a mean of p * gamma / (q - 1) = 60 dollars per purchase.
        let nu = self.rng.gamma(4, 4.0 / 30.0);
        let basket = f64::from(SPEND_SHAPE) / nu;
        let mut refunds = 0;
        for &day in days.iter().rev() {
            let days_ago = f64::from(day) + self.rng.between(0.05, 0.95);
            let product = self.rng.pick(PRODUCTS);
            let dollars = self.rng.gamma(SPEND_SHAPE, basket);
            let minor = price(&mut self.rng, dollars);
            let mut t = Touch::new(
                index,
                Channel::ECommerce,
                InteractionKind::Purchase,
                days_ago,
            )
            .subject(format!("Order: {product}"))
            .text("line_item.1", format!("1 x {product}"));
            t.amount_minor = Some(minor);
            self.plan.touches.push(t);
            if self.rng.chance(0.07) && days_ago > 3.0 {
                refunds += 1;
                let mut r = Touch::new(
                    index,
                    Channel::ECommerce,
                    InteractionKind::Refund,
                    days_ago - self.rng.between(1.0, 3.0),
                )
                .subject(format!("Refund: {product}"));
                r.amount_minor = Some(minor);
                let refunded = r.days_ago;
                self.plan.touches.push(r);
                self.complaint(index, product, refunded);
            }
        }
        let last_purchase = days.first().map(|&d| f64::from(d));
        if !days.is_empty() && self.rng.chance(0.45) {
            let loyal = (days.len() as f64 / 6.0).min(1.0);
            let rating = (5.0 + 5.0 * loyal - 2.5 * f64::from(refunds)
                + self.rng.between(-2.0, 2.0))
            .clamp(0.0, 10.0);
            let after = last_purchase.unwrap_or(0.0);
            let days_ago = self.rng.between(0.0, after.min(60.0));
            self.survey(index, rating as u8, days_ago);
        }
        if consent {
            for _ in 0..self.rng.below(3) {
                let t = Touch::new(
                    index,
                    Channel::Email,
                    InteractionKind::Email,
                    self.rng.between(0.0, 180.0),
                )
                .outbound()
                .subject(self.rng.pick(&[
                    "Spring collection is here",
                    "Your member discount",
                    "Back in stock",
                ]));
                self.plan.touches.push(t);
            }
        }
        if self.rng.chance(0.5) {
            let t = Touch::new(
                index,
                Channel::Web,
                InteractionKind::PageView,
                self.rng.between(0.0, 90.0),
            )
            .text("url", "https://shop.kith.example/new-arrivals");
            self.plan.touches.push(t);
        }

        let lifecycle = match last_purchase {
            None => LifecycleStage::Subscriber,
            Some(d) if d > 400.0 => LifecycleStage::Churned,
            Some(_) if days.len() >= 8 => LifecycleStage::Evangelist,
            Some(_) => LifecycleStage::Customer,
        };
        let mut tags = vec!["retail".to_owned()];
        if consent {
            tags.push("newsletter".into());
        }
        if days.len() >= 5 {
            tags.push("loyalty-club".into());
        }
        let mut attributes = BTreeMap::new();
        attributes.insert("birth_date".to_owned(), AttributeValue::Date(birth));
        attributes.insert("gender".to_owned(), text(gender));
        let input = CustomerInput {
            first_name: Some(first.to_owned()),
            last_name: Some(last.to_owned()),
            email: Some(email),
            country: Some(country.to_owned()),
            city: Some(city.to_owned()),
            birth_date: Some(birth),
            gender: Some(gender.to_owned()),
            lifecycle: Some(lifecycle),
            tags,
            attributes,
            marketing_consent: consent,
            ..CustomerInput::default()
        };
        if self.push(input, None) != index {
            return Err(Error::Store(StoreError::Storage(
                "demo plan: customer index moved".into(),
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_the_same_for_the_same_now() {
        let now = Timestamp::from_secs(1_800_000_000);
        let a = plan(now).unwrap();
        let b = plan(now).unwrap();
        assert_eq!(a.customers.len(), b.customers.len());
        assert_eq!(a.touches.len(), b.touches.len());
        assert_eq!(
            format!("{:?}", a.customers.last()),
            format!("{:?}", b.customers.last())
        );
    }

    #[test]
    fn organizations_come_before_the_people_linked_to_them() {
        let p = plan(Timestamp::from_secs(1_800_000_000)).unwrap();
        for (i, c) in p.customers.iter().enumerate() {
            if let Some(org) = c.organization {
                assert!(org < i);
                assert_eq!(p.customers[org].input.kind, CustomerKind::Organization);
            }
        }
    }

    #[test]
    fn every_email_is_unique_and_every_deal_path_is_a_stage_walk() {
        let p = plan(Timestamp::from_secs(1_800_000_000)).unwrap();
        let emails: HashSet<_> = p.customers.iter().map(|c| &c.input.email).collect();
        assert_eq!(emails.len(), p.customers.len());
        for d in &p.deals {
            let stages = p.pipelines[d.pipeline].stages.len();
            assert!(!d.path.is_empty() && d.path.iter().all(|&s| s < stages));
        }
        assert!(p.deals.iter().any(|d| d.path.last() == Some(&NB_WON)));
        assert!(p.deals.iter().any(|d| d.path.last() == Some(&NB_LOST)));
    }
}
