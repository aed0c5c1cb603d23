//! Contact details: email addresses, phone numbers (E.164) and countries (ISO 3166-1 alpha-2).

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

use super::ValidationError;

/// A normalized email address: trimmed, in Unicode NFKC (so fullwidth letters and other
/// compatibility forms become the plain ones, and NFC and NFD spellings are one address), domain
/// lowercased. Invisible characters (zero-width spaces, joiners, bidirectional marks, soft
/// hyphens, variation selectors) are refused rather than stripped: they come from copy and paste
/// or from someone forging a look-alike, and either way the sender should see it. The local part
/// keeps its case as typed, for display; identity ignores it ([`Email::identity`]): RFC 5321 lets
/// a mail server treat the local part as case-sensitive, but no mail service in use does, and
/// `Ada@` and `ada@` as two customers is the duplicate users complain about.
///
/// Read from JSON it is validated like any input; read from the store (a compact format) it is
/// taken as it was written, so an address stored under older rules stays readable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct Email(String);

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let human = d.is_human_readable();
        let s = String::deserialize(d)?;
        if human {
            Self::parse("email", &s).map_err(serde::de::Error::custom)
        } else {
            Ok(Self(s))
        }
    }
}

impl Email {
    /// Validates and normalizes an address.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let bad = |why: &str| {
            ValidationError::field(
                field,
                format!("an email address like name@example.com ({why})"),
            )
        };
        let s = raw.trim();
        if s.len() > 1024 {
            return Err(bad("at most 254 characters"));
        }
        if let Some((at, c)) = s.chars().enumerate().find(|(_, c)| invisible(*c)) {
            return Err(ValidationError::field(
                field,
                format!(
                    "an email address without invisible characters (U+{:04X} at character {})",
                    u32::from(c),
                    at + 1
                ),
            ));
        }
        let s: String = s.nfkc().collect();
        let s = s.as_str();
        if s.len() > 254 {
            return Err(bad("at most 254 characters"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(bad("missing '@'"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the part before '@' must have 1 to 64 characters"));
        }
        if local.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || c == '@'
                || c == '"'
                || c == ','
                || c == '<'
                || c == '>'
        }) || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(bad("invalid characters before '@'"));
        }
        // Checked after lowercasing, which can change it ('İ' becomes 'i' and a combining dot), so
        // that the stored form parses again.
        let domain = domain.to_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(bad("the domain must look like example.com"));
        }
        let normalized = format!("{local}@{domain}");
        if normalized.len() > 254 {
            return Err(bad("at most 254 characters"));
        }
        Ok(Self(normalized))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as identity compares it: lowercased whole, in NFC. Two customers of a tenant
    /// never share it.
    pub fn identity(&self) -> String {
        // ASCII is already in NFC and lowercases byte by byte: nearly every address, at a
        // fifteenth of the general path's cost.
        if self.0.is_ascii() {
            return self.0.to_ascii_lowercase();
        }
        self.0.to_lowercase().nfc().collect()
    }

    /// A looser key grouping addresses that probably belong to one person, for duplicate
    /// suggestions only: the identity with the local part's dots and `+tag` removed (mail
    /// services such as Gmail ignore both), then every character replaced by its Unicode
    /// look-alike prototype (the TR39 skeleton), so that `аda@example.com` with a Cyrillic `а`
    /// meets `ada@example.com`.
    pub fn likeness(&self) -> String {
        let (local, domain) = self.plain();
        let mut out = skeleton(&local);
        out.push('@');
        out.push_str(&skeleton(&domain));
        out
    }

    /// The identity's local part without dots and `+tag`, and its domain.
    fn plain(&self) -> (String, String) {
        let identity = self.identity();
        let (local, domain) = identity.rsplit_once('@').unwrap_or((identity.as_str(), ""));
        let local = local.split_once('+').map_or(local, |(base, _)| base);
        (local.replace('.', ""), domain.to_owned())
    }

    /// Why two different addresses were grouped by [`Email::likeness`].
    pub fn likeness_reason(&self, other: &Email) -> EmailLikeness {
        if self.identity() == other.identity() {
            EmailLikeness::Case
        } else if self.plain() == other.plain() {
            EmailLikeness::DotsOrTag
        } else {
            EmailLikeness::LookAlike
        }
    }
}

/// How two addresses with one [`Email::likeness`] differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailLikeness {
    /// Only by letter case (or Unicode normalization): the same identity.
    Case,
    /// By dots or a `+tag` in the local part.
    DotsOrTag,
    /// By characters that look alike (often from different scripts).
    LookAlike,
}

/// The TR39 skeleton of `s` (`unicode_security::skeleton`), the same string faster for ASCII.
///
/// Normalization does nothing to ASCII and every ASCII character's prototype starts with a
/// character that combines with nothing before it, so the skeleton of ASCII text is its
/// characters' skeletons one after the other: looked up in a table built once from the crate's
/// own answers (a unit test compares the two on every pair of ASCII characters). The general
/// path normalizes and maps through the confusables table for each call, about 2.5 µs an
/// address, on the commit thread for every customer written with one.
pub(crate) fn skeleton(s: &str) -> String {
    static ASCII: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (0u8..128)
            .map(|b| unicode_security::skeleton(char::from(b).encode_utf8(&mut [0; 4])).collect())
            .collect()
    });
    if !s.is_ascii() {
        return unicode_security::skeleton(s).collect();
    }
    let table = &*ASCII;
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        out.push_str(&table[usize::from(b)]);
    }
    out
}

/// Whether `c` is invisible when shown: a format character (general category Cf: zero-width
/// space and joiners, bidirectional marks, soft hyphen, word joiner, byte order mark, tags) or
/// one of the other default-ignorable code points (variation selectors, the combining grapheme
/// joiner, Hangul fillers).
fn invisible(c: char) -> bool {
    c.general_category() == GeneralCategory::Format
        || matches!(
            c,
            '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FFA0}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse("email", &s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}

/// ISO 3166-1 alpha-2 codes with their international calling codes (ITU-T E.164 assignments).
/// Sorted by country code for binary search.
const COUNTRIES: &[(&str, u16)] = &[
    ("AD", 376),
    ("AE", 971),
    ("AF", 93),
    ("AG", 1),
    ("AI", 1),
    ("AL", 355),
    ("AM", 374),
    ("AO", 244),
    ("AR", 54),
    ("AS", 1),
    ("AT", 43),
    ("AU", 61),
    ("AW", 297),
    ("AX", 358),
    ("AZ", 994),
    ("BA", 387),
    ("BB", 1),
    ("BD", 880),
    ("BE", 32),
    ("BF", 226),
    ("BG", 359),
    ("BH", 973),
    ("BI", 257),
    ("BJ", 229),
    ("BL", 590),
    ("BM", 1),
    ("BN", 673),
    ("BO", 591),
    ("BQ", 599),
    ("BR", 55),
    ("BS", 1),
    ("BT", 975),
    ("BW", 267),
    ("BY", 375),
    ("BZ", 501),
    ("CA", 1),
    ("CC", 61),
    ("CD", 243),
    ("CF", 236),
    ("CG", 242),
    ("CH", 41),
    ("CI", 225),
    ("CK", 682),
    ("CL", 56),
    ("CM", 237),
    ("CN", 86),
    ("CO", 57),
    ("CR", 506),
    ("CU", 53),
    ("CV", 238),
    ("CW", 599),
    ("CX", 61),
    ("CY", 357),
    ("CZ", 420),
    ("DE", 49),
    ("DJ", 253),
    ("DK", 45),
    ("DM", 1),
    ("DO", 1),
    ("DZ", 213),
    ("EC", 593),
    ("EE", 372),
    ("EG", 20),
    ("EH", 212),
    ("ER", 291),
    ("ES", 34),
    ("ET", 251),
    ("FI", 358),
    ("FJ", 679),
    ("FK", 500),
    ("FM", 691),
    ("FO", 298),
    ("FR", 33),
    ("GA", 241),
    ("GB", 44),
    ("GD", 1),
    ("GE", 995),
    ("GF", 594),
    ("GG", 44),
    ("GH", 233),
    ("GI", 350),
    ("GL", 299),
    ("GM", 220),
    ("GN", 224),
    ("GP", 590),
    ("GQ", 240),
    ("GR", 30),
    ("GT", 502),
    ("GU", 1),
    ("GW", 245),
    ("GY", 592),
    ("HK", 852),
    ("HN", 504),
    ("HR", 385),
    ("HT", 509),
    ("HU", 36),
    ("ID", 62),
    ("IE", 353),
    ("IL", 972),
    ("IM", 44),
    ("IN", 91),
    ("IO", 246),
    ("IQ", 964),
    ("IR", 98),
    ("IS", 354),
    ("IT", 39),
    ("JE", 44),
    ("JM", 1),
    ("JO", 962),
    ("JP", 81),
    ("KE", 254),
    ("KG", 996),
    ("KH", 855),
    ("KI", 686),
    ("KM", 269),
    ("KN", 1),
    ("KP", 850),
    ("KR", 82),
    ("KW", 965),
    ("KY", 1),
    ("KZ", 7),
    ("LA", 856),
    ("LB", 961),
    ("LC", 1),
    ("LI", 423),
    ("LK", 94),
    ("LR", 231),
    ("LS", 266),
    ("LT", 370),
    ("LU", 352),
    ("LV", 371),
    ("LY", 218),
    ("MA", 212),
    ("MC", 377),
    ("MD", 373),
    ("ME", 382),
    ("MF", 590),
    ("MG", 261),
    ("MH", 692),
    ("MK", 389),
    ("ML", 223),
    ("MM", 95),
    ("MN", 976),
    ("MO", 853),
    ("MP", 1),
    ("MQ", 596),
    ("MR", 222),
    ("MS", 1),
    ("MT", 356),
    ("MU", 230),
    ("MV", 960),
    ("MW", 265),
    ("MX", 52),
    ("MY", 60),
    ("MZ", 258),
    ("NA", 264),
    ("NC", 687),
    ("NE", 227),
    ("NF", 672),
    ("NG", 234),
    ("NI", 505),
    ("NL", 31),
    ("NO", 47),
    ("NP", 977),
    ("NR", 674),
    ("NU", 683),
    ("NZ", 64),
    ("OM", 968),
    ("PA", 507),
    ("PE", 51),
    ("PF", 689),
    ("PG", 675),
    ("PH", 63),
    ("PK", 92),
    ("PL", 48),
    ("PM", 508),
    ("PR", 1),
    ("PS", 970),
    ("PT", 351),
    ("PW", 680),
    ("PY", 595),
    ("QA", 974),
    ("RE", 262),
    ("RO", 40),
    ("RS", 381),
    ("RU", 7),
    ("RW", 250),
    ("SA", 966),
    ("SB", 677),
    ("SC", 248),
    ("SD", 249),
    ("SE", 46),
    ("SG", 65),
    ("SH", 290),
    ("SI", 386),
    ("SJ", 47),
    ("SK", 421),
    ("SL", 232),
    ("SM", 378),
    ("SN", 221),
    ("SO", 252),
    ("SR", 597),
    ("SS", 211),
    ("ST", 239),
    ("SV", 503),
    ("SX", 1),
    ("SY", 963),
    ("SZ", 268),
    ("TC", 1),
    ("TD", 235),
    ("TG", 228),
    ("TH", 66),
    ("TJ", 992),
    ("TK", 690),
    ("TL", 670),
    ("TM", 993),
    ("TN", 216),
    ("TO", 676),
    ("TR", 90),
    ("TT", 1),
    ("TV", 688),
    ("TW", 886),
    ("TZ", 255),
    ("UA", 380),
    ("UG", 256),
    ("US", 1),
    ("UY", 598),
    ("UZ", 998),
    ("VA", 39),
    ("VC", 1),
    ("VE", 58),
    ("VG", 1),
    ("VI", 1),
    ("VN", 84),
    ("VU", 678),
    ("WF", 681),
    ("WS", 685),
    ("XK", 383),
    ("YE", 967),
    ("YT", 262),
    ("ZA", 27),
    ("ZM", 260),
    ("ZW", 263),
];

/// A country as an ISO 3166-1 alpha-2 code (`DE`, `US`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country([u8; 2]);

impl Country {
    /// Looks up a code (case-insensitive).
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let upper = raw.trim().to_ascii_uppercase();
        match COUNTRIES.binary_search_by(|(c, _)| (*c).cmp(upper.as_str())) {
            Ok(i) => {
                let b = COUNTRIES[i].0.as_bytes();
                Ok(Self([b[0], b[1]]))
            }
            Err(_) => Err(ValidationError::field(
                field,
                "an ISO 3166-1 alpha-2 country code such as DE or US",
            )),
        }
    }

    /// The two-letter code.
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("ZZ")
    }

    /// The international calling code (49 for DE).
    pub fn calling_code(&self) -> u16 {
        COUNTRIES
            .binary_search_by(|(c, _)| (*c).cmp(self.code()))
            .map(|i| COUNTRIES[i].1)
            .unwrap_or(0)
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for Country {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse("country", &s)
    }
}

impl From<Country> for String {
    fn from(c: Country) -> Self {
        c.code().to_owned()
    }
}

/// How many valid numbers [`Phone::parse`] remembers per thread.
const RECENT_PHONES_KEPT: usize = 4;

thread_local! {
    /// The last valid numbers parsed on this thread, as (trimmed input, country, number).
    /// Validation takes 2 to 30 µs (regular expressions from libphonenumber's metadata), and one
    /// write parses the same number more than once:
    /// a plugin's upsert checks whether the number is taken, then creates or changes the
    /// customer with it, both on the commit thread. Parsing is a pure function of the input
    /// and the country, so an answer remembered is the answer.
    static RECENT_PHONES: std::cell::RefCell<Vec<(String, Option<Country>, Phone)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// How many numbers [`Phone::validate_ahead`] can hand to the commit thread at once. With 64
/// webhooks in flight, 256 slots lost 6 % of the answers to another number hashed to the same
/// slot before the commit took them; 1,024 keep that near 1 %, for about 100 KB.
const VALIDATED_AHEAD_SLOTS: usize = 1024;

/// An answer of [`Phone::validate_ahead`]: (trimmed input, country, number).
type Ahead = std::sync::Mutex<Option<(String, Option<Country>, Phone)>>;

/// Numbers validated on the callers' threads for the commit thread, one per slot, a slot chosen
/// by hashing the input and country. A slot's lock is held for a compare and a move.
static VALIDATED_AHEAD: [Ahead; VALIDATED_AHEAD_SLOTS] =
    [const { std::sync::Mutex::new(None) }; VALIDATED_AHEAD_SLOTS];

/// The slot of `(key, country)` in [`VALIDATED_AHEAD`].
fn ahead_slot(key: &str, country: Option<Country>) -> usize {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    country.hash(&mut h);
    // The remainder is below VALIDATED_AHEAD_SLOTS, so it fits.
    usize::try_from(h.finish() % VALIDATED_AHEAD_SLOTS as u64).unwrap_or(0)
}

/// Takes the answer [`Phone::validate_ahead`] left for `(key, country)`, if it is there.
pub(crate) fn take_validated_ahead(key: &str, country: Option<Country>) -> Option<Phone> {
    let mut slot = VALIDATED_AHEAD[ahead_slot(key, country)]
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match slot.as_ref() {
        Some((k, c, _)) if k == key && *c == country => slot.take().map(|(_, _, p)| p),
        _ => None,
    }
}

/// A phone number, validated against libphonenumber's metadata (through the `rlibphonenumber`
/// crate, a port of libphonenumber's own rules) and stored in E.164 (`+4930123456`): the same number written any way is one identity.
/// Numbers stored before validation existed (national digits without a country) read unchanged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Validates `raw` and normalizes it to E.164. An international number (`+` or `00` and the
    /// calling code) stands alone; a national one needs `country`, whose trunk prefix rules
    /// (`0` in most countries, none in Italy, `8` in Russia, `06` in Hungary) libphonenumber knows.
    pub fn parse(
        field: &str,
        raw: &str,
        country: Option<Country>,
    ) -> Result<Self, ValidationError> {
        let key = raw.trim();
        let hit = RECENT_PHONES.with_borrow(|recent| {
            recent
                .iter()
                .find(|(r, c, _)| r.as_str() == key && *c == country)
                .map(|(_, _, p)| p.clone())
        });
        if let Some(phone) = hit {
            return Ok(phone);
        }
        let phone = match take_validated_ahead(key, country) {
            Some(phone) => phone,
            None => Self::parse_uncached(field, raw, country)?,
        };
        RECENT_PHONES.with_borrow_mut(|recent| {
            if recent.len() == RECENT_PHONES_KEPT {
                recent.remove(0);
            }
            recent.push((key.to_owned(), country, phone.clone()));
        });
        Ok(phone)
    }

    /// [`Phone::parse`], on the caller's thread, for a write about to be queued: a valid
    /// number's answer is left for the commit thread, whose own [`Phone::parse`] of the same
    /// input and country takes it instead of validating again (once: the answer is removed when
    /// taken). Validation is 2 to 30 µs of regular expressions (the least for an international
    /// number in a country with a plain national prefix), and the commit thread is
    /// shared by every tenant's writes; a caller that validates first moves that work to its
    /// own thread. The hand-off holds 1,024 answers, a slot chosen by a hash of the input; one
    /// that is overwritten before its write is applied costs the commit thread the validation it
    /// would have done anyway, and nothing else: an answer is a pure function of the input and
    /// the country, whoever validated it.
    ///
    /// `raw` and `country` as a write carries them (a customer's input, a plugin's upsert): a
    /// country that does not parse counts as none, as when the write builds the customer; a
    /// blank or invalid number leaves nothing.
    pub fn validate_ahead(raw: &str, country: Option<&str>) -> Result<Self, ValidationError> {
        let key = raw.trim();
        let country = country.and_then(|c| Country::parse("country", c).ok());
        let phone = Self::parse_uncached("phone", raw, country)?;
        let slot = &VALIDATED_AHEAD[ahead_slot(key, country)];
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((key.to_owned(), country, phone.clone()));
        Ok(phone)
    }

    fn parse_uncached(
        field: &str,
        raw: &str,
        country: Option<Country>,
    ) -> Result<Self, ValidationError> {
        let expected = "a phone number: + and the country code then the number (+49 30 1234567), or a national number with the customer's country";
        let s = raw.trim();
        // Bounded before the parser sees it: separators and at most 15 digits.
        if s.chars().count() > 40 {
            return Err(ValidationError::field(field, expected));
        }
        let mut digits = String::with_capacity(s.len());
        let mut international = false;
        for (i, c) in s.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => international = true,
                ' ' | '-' | '.' | '(' | ')' | '/' => {}
                _ => return Err(ValidationError::field(field, expected)),
            }
        }
        if !international && digits.starts_with("00") {
            international = true;
            digits.drain(..2);
        }
        if !(4..=15).contains(&digits.len()) {
            return Err(ValidationError::field(field, expected));
        }
        let region = match (international, country) {
            (true, _) => None,
            (false, Some(c)) => Some(rlibphonenumber::Region::from_code(c.code()).map_err(|_| {
                ValidationError::field(
                    field,
                    format!("a number with + and its country code: national numbers of {} cannot be checked", c.code()),
                )
            })?),
            (false, None) => {
                return Err(ValidationError::field(
                    field,
                    "a number with + and its country code (+49 30 1234567): a national number needs the customer's country",
                ));
            }
        };
        let parsed = if international {
            parse_international(&digits)
                .or_else(|| rlibphonenumber::PhoneNumber::parse(format!("+{digits}"), region).ok())
        } else {
            rlibphonenumber::PhoneNumber::parse(&digits, region).ok()
        };
        let number = parsed
            .filter(|number| is_valid_number(number, country))
            .ok_or_else(|| {
                let place = match country.filter(|_| !international) {
                    Some(c) => format!(" in {}", c.code()),
                    None => String::new(),
                };
                ValidationError::field(
                    field,
                    format!("a phone number in use{place} ({raw:?} is not a valid number: check its digits and country code)", raw = s),
                )
            })?;
        Ok(Self(
            number
                .format_as(rlibphonenumber::PhoneNumberFormat::E164)
                .into_owned(),
        ))
    }

    /// The normalized number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// libphonenumber's parse of `+` and `digits`, without the regular expressions that cannot
/// change the answer for such a number; `None` when one could, and the full parse must decide.
///
/// For `+` followed by digits only, the full parse (`PhoneNumberUtil::parse_helper`) checks that
/// the text looks like a number and carries no extension (regular expressions that such a text
/// always passes), takes the calling code (the shortest leading digits that are one), then
/// tries to strip a national prefix or carrier code from the rest with the region's
/// `national_prefix_for_parsing` pattern. That pattern is most of the parse's time, and for most
/// regions it is a plain run of digits (`1` in North America, `0` in Germany, `8` in Russia): a
/// number that does not start with them cannot match it, so the rest is the national number as
/// it stands. Any other pattern, a match, or a national number starting with `0` (which carries
/// Italian leading zeros) goes to the full parse. The test
/// `phone_parse_without_regular_expressions_agrees_with_libphonenumber` checks both on every
/// region's example numbers and on random digits behind every calling code. A `+1 613` number
/// in Canada is validated in 2 µs instead of 12 (`cargo bench -p kith-model --bench phone`,
/// bench/README.md).
pub(crate) fn parse_international(digits: &str) -> Option<rlibphonenumber::PhoneNumber> {
    use rlibphonenumber::interfaces::AsOriginal as _;
    // The steps of the parse itself, public on the crate's inner utility.
    let util = rlibphonenumber::PHONE_NUMBER_UTIL.as_original();
    if digits.len() <= 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (national, code) = util.extract_country_code(std::borrow::Cow::Borrowed(digits))?;
    let region = util.get_region_for_country_code(code)?;
    let metadata = util.get_metadata_for_region_or_calling_code(code, region)?;
    let prefix = metadata.national_prefix_for_parsing().original_base();
    let plain = prefix.bytes().all(|b| b.is_ascii_digit());
    if !prefix.is_empty() && (!plain || national.starts_with(prefix)) {
        return None;
    }
    if national.starts_with('0') || !(2..=17).contains(&national.len()) {
        return None;
    }
    Some(rlibphonenumber::PhoneNumber {
        country_code: code,
        national_number: national.parse().ok()?,
        ..Default::default()
    })
}

/// Whether `number` is a number in use: valid in the customer's `country` (when its calling
/// code is that country's), else valid wherever libphonenumber places it.
///
/// The country is tried first because it spares the search for the number's region among the
/// regions sharing its calling code (25 share +1, four +44): libphonenumber tries each in turn,
/// checking the number against each one's patterns, and for a Canadian number that search was
/// a fifth of the validation (`cargo bench -p kith-model --bench phone`, bench/README.md). A
/// number the country's patterns do not accept is checked as before. A number is accepted
/// either way unless libphonenumber would place it in a region sharing the code whose patterns
/// refuse it while its customer's country's accept it; the test that compares numbers with and
/// without their country found none.
fn is_valid_number(number: &rlibphonenumber::PhoneNumber, country: Option<Country>) -> bool {
    let home = country.and_then(|c| rlibphonenumber::Region::from_code(c.code()).ok());
    if let Some(region) = home
        && rlibphonenumber::PHONE_NUMBER_UTIL.get_country_code_for_region(region)
            == Some(number.country_code)
        && number.is_valid_for_region(region)
    {
        return true;
    }
    number.is_valid()
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
