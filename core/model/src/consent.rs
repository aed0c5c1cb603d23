//! Consent as records: for each channel and purpose, whether the customer granted or withdrew
//! it, where that came from and when.
//!
//! A customer holds the current record of each (channel, purpose) pair it has one for, and the
//! records they replaced, newest last, up to [`MAX_CONSENT_HISTORY`]: older ones are dropped from
//! the customer but every change is also in the event log, with its old and new values.
//! `marketing_consent` is what the (email, marketing) record says: setting it records a change of
//! that pair, so older clients and plugins keep working.

use serde::{Deserialize, Serialize};

use super::{Checker, FieldChange, Timestamp, ValidationError};

/// The purpose `marketing_consent` stands for, on the email channel.
pub const MARKETING: &str = "marketing";
/// The most (channel, purpose) pairs a customer may have a record for.
pub const MAX_CONSENTS: usize = 32;
/// The most replaced records a customer keeps (every change is in the event log too).
pub const MAX_CONSENT_HISTORY: usize = 50;
/// How far in the future a given consent time may be (clock skew between systems).
const FUTURE_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;

/// How the customer may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConsentChannel {
    /// Email.
    Email,
    /// Text messages.
    Sms,
    /// Calls.
    Phone,
    /// Letters.
    Post,
}

impl ConsentChannel {
    /// The channel's name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Phone => "phone",
            Self::Post => "post",
        }
    }

    /// Parses a channel's name.
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "email" => Ok(Self::Email),
            "sms" => Ok(Self::Sms),
            "phone" => Ok(Self::Phone),
            "post" => Ok(Self::Post),
            _ => Err(ValidationError::field(field, "email, sms, phone or post")),
        }
    }
}

/// Granted or withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConsentStatus {
    /// The customer agreed.
    Granted,
    /// The customer refused or took it back.
    Withdrawn,
}

/// Where a consent record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConsentSource {
    /// A form the customer filled in (sent through the API by the form's back end).
    Form,
    /// A CSV or JSON Lines import.
    Import,
    /// A call of the API (the default there).
    #[default]
    Api,
    /// A plugin's action (an e-commerce store's opt-in, say).
    Plugin,
}

impl ConsentSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Form => "form",
            Self::Import => "import",
            Self::Api => "api",
            Self::Plugin => "plugin",
        }
    }
}

/// One consent record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consent {
    /// The channel.
    pub channel: ConsentChannel,
    /// What for: `marketing`, `newsletter`, `surveys`... (1 to 64 characters a-z, 0-9, '_', '-').
    pub purpose: String,
    /// Granted or withdrawn.
    pub status: ConsentStatus,
    /// Where it came from.
    pub source: ConsentSource,
    /// When the customer gave or withdrew it.
    pub at: Timestamp,
    /// Evidence: the form's address, the wording shown, a ticket (at most 500 characters).
    /// (Always written: the store's encoding has no field names to skip one by.)
    #[serde(default)]
    pub note: Option<String>,
}

impl Consent {
    fn pair(&self) -> (ConsentChannel, &str) {
        (self.channel, &self.purpose)
    }

    /// `granted (form) at 2026-...`, as the event log keeps it: not the note, which may hold
    /// personal data that an erasure must remove with the customer.
    fn describe(&self) -> String {
        let status = match self.status {
            ConsentStatus::Granted => "granted",
            ConsentStatus::Withdrawn => "withdrawn",
        };
        format!("{status} ({}) at {}", self.source.as_str(), self.at)
    }
}

/// A consent record as received: the source defaults to where it was received from, the time
/// to now. A GET's record sent back unchanged changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentInput {
    /// The channel.
    pub channel: ConsentChannel,
    /// What for (1 to 64 characters a-z, 0-9, '_', '-'; case is folded).
    pub purpose: String,
    /// Granted or withdrawn.
    pub status: ConsentStatus,
    /// Where it came from (default: where it was received: `api`, `import` or `plugin`).
    #[serde(default)]
    pub source: Option<ConsentSource>,
    /// When the customer gave or withdrew it (default now; at most 5 minutes ahead).
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// Evidence (at most 500 characters).
    #[serde(default)]
    pub note: Option<String>,
}

impl From<&Consent> for ConsentInput {
    fn from(c: &Consent) -> Self {
        Self {
            channel: c.channel,
            purpose: c.purpose.clone(),
            status: c.status,
            source: Some(c.source),
            at: Some(c.at),
            note: c.note.clone(),
        }
    }
}

/// Checks a purpose: trimmed, lowercased, 1 to 64 characters a-z, 0-9, '_', '-'.
pub fn consent_purpose(field: &str, raw: &str) -> Result<String, ValidationError> {
    let p = raw.trim().to_ascii_lowercase();
    let ok = !p.is_empty()
        && p.len() <= 64
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'));
    if ok {
        Ok(p)
    } else {
        Err(ValidationError::field(
            field,
            "a purpose of 1 to 64 characters a-z, 0-9, '_', '-'",
        ))
    }
}

/// A customer's consent: the current record per pair and the replaced ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Consents {
    pub(crate) current: Vec<Consent>,
    pub(crate) history: Vec<Consent>,
}

impl Consents {
    /// Whether the customer may be contacted on `channel` for `purpose`.
    pub(crate) fn granted(current: &[Consent], channel: ConsentChannel, purpose: &str) -> bool {
        current
            .iter()
            .any(|c| c.pair() == (channel, purpose) && c.status == ConsentStatus::Granted)
    }

    /// Records each of `changes` (under `field`) at `now`, defaulting their source to `source`.
    /// A change that says what the current record says (a GET's record sent back) is no change:
    /// the record keeps its time. Pairs not named are left as they are: consent is never removed
    /// by leaving it out.
    pub(crate) fn record(
        &mut self,
        c: &mut Checker,
        field: &str,
        changes: &[ConsentInput],
        source: ConsentSource,
        now: Timestamp,
    ) {
        let mut seen = Vec::new();
        for (i, input) in changes.iter().enumerate() {
            let f = format!("{field}[{i}]");
            let Some(purpose) = c.take(consent_purpose(&format!("{f}.purpose"), &input.purpose))
            else {
                continue;
            };
            if seen.contains(&(input.channel, purpose.clone())) {
                c.fail(f, "one record per channel and purpose");
                continue;
            }
            seen.push((input.channel, purpose.clone()));
            let note = match input.note.as_deref().map(str::trim) {
                Some("") | None => None,
                Some(n) => c.take(super::error::text(&format!("{f}.note"), n, 500, false)),
            };
            if input
                .at
                .is_some_and(|at| at > now.plus_micros(FUTURE_SKEW_MICROS))
            {
                c.fail(format!("{f}.at"), "a time not in the future");
                continue;
            }
            let i = self
                .current
                .iter()
                .position(|x| x.pair() == (input.channel, &purpose));
            if let Some(cur) = i.map(|i| &self.current[i])
                && cur.status == input.status
                && input.source.is_none_or(|s| s == cur.source)
                && input.at.is_none_or(|at| at == cur.at)
                && (input.note.is_none() || note == cur.note)
            {
                continue;
            }
            let record = Consent {
                channel: input.channel,
                purpose,
                status: input.status,
                source: input.source.unwrap_or(source),
                at: input.at.unwrap_or(now),
                note,
            };
            match i {
                Some(i) => {
                    let old = std::mem::replace(&mut self.current[i], record);
                    self.history.push(old);
                }
                None => self.current.push(record),
            }
        }
        self.current.sort_by(|a, b| a.pair().cmp(&b.pair()));
        if self.current.len() > MAX_CONSENTS {
            c.fail(
                field,
                format!("at most {MAX_CONSENTS} channel and purpose pairs"),
            );
        }
        let over = self.history.len().saturating_sub(MAX_CONSENT_HISTORY);
        self.history.drain(..over);
    }

    /// What `marketing_consent` asks for, as a change of the (email, marketing) record, unless a
    /// record in `changes` names that pair (then they must agree).
    pub(crate) fn marketing(
        c: &mut Checker,
        current: &[Consent],
        wanted: bool,
        changes: &mut Vec<ConsentInput>,
    ) {
        let status = if wanted {
            ConsentStatus::Granted
        } else {
            ConsentStatus::Withdrawn
        };
        let named = changes.iter().find(|x| {
            x.channel == ConsentChannel::Email && x.purpose.trim().eq_ignore_ascii_case(MARKETING)
        });
        match named {
            Some(x) if x.status != status => c.fail(
                "marketing_consent",
                "the same as the consents' email marketing record, or left out",
            ),
            Some(_) => {}
            None if Self::granted(current, ConsentChannel::Email, MARKETING) == wanted => {}
            // No record and not wanted: nothing to record (never asked is not withdrawn).
            None if !wanted
                && !current
                    .iter()
                    .any(|x| x.pair() == (ConsentChannel::Email, MARKETING)) => {}
            None => changes.push(ConsentInput {
                channel: ConsentChannel::Email,
                purpose: MARKETING.to_owned(),
                status,
                source: None,
                at: None,
                note: None,
            }),
        }
    }

    /// The records of `other`, a customer found to be the same person, added: per pair the
    /// newer record is current and the other joins the history. Err when the two have more
    /// pairs together than a customer may.
    pub(crate) fn merge(&mut self, other: Consents) -> Result<(), ValidationError> {
        for d in other.current {
            match self.current.iter().position(|x| x.pair() == d.pair()) {
                None => self.current.push(d),
                Some(i) if self.current[i].at < d.at => {
                    let old = std::mem::replace(&mut self.current[i], d);
                    self.history.push(old);
                }
                Some(_) => self.history.push(d),
            }
        }
        self.history.extend(other.history);
        self.history.sort_by_key(|x| x.at);
        let over = self.history.len().saturating_sub(MAX_CONSENT_HISTORY);
        self.history.drain(..over);
        self.current.sort_by(|a, b| a.pair().cmp(&b.pair()));
        if self.current.len() > MAX_CONSENTS {
            return Err(ValidationError::field(
                "duplicate",
                format!("customers with at most {MAX_CONSENTS} consent pairs together"),
            ));
        }
        Ok(())
    }

    /// The event log's record of what changed between `old` and `new` current records: one
    /// change per pair, `consents.<channel>.<purpose>`.
    pub(crate) fn changes(old: &[Consent], new: &[Consent]) -> Vec<FieldChange> {
        let mut out = Vec::new();
        for n in new {
            let o = old.iter().find(|o| o.pair() == n.pair());
            if o != Some(n) {
                out.push(FieldChange::new(
                    &format!("consents.{}.{}", n.channel.as_str(), n.purpose),
                    o.map(Consent::describe),
                    Some(n.describe()),
                ));
            }
        }
        out
    }
}
