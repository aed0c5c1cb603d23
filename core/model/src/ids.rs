//! Identifiers: UUIDv7 newtypes for entities, validated slugs for tenants.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ValidationError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered (UUIDv7) id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The 16 bytes, big-endian: sorts like the id's creation time.
            pub const fn to_bytes(self) -> [u8; 16] {
                *self.0.as_bytes()
            }

            /// From 16 bytes as written by [`Self::to_bytes`].
            pub const fn from_bytes(b: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(b))
            }

            /// Parses a UUID string, naming `field` when it is not one.
            pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| ValidationError::field(field, concat!("a ", $what, " id (a UUID)")))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse("id", s)
            }
        }
    };
}

uuid_id!(
    /// Identifies a customer (person or organization) within a tenant.
    CustomerId, "customer"
);
uuid_id!(
    /// Identifies an interaction.
    InteractionId, "interaction"
);
uuid_id!(
    /// Identifies a sales pipeline.
    PipelineId, "pipeline"
);
uuid_id!(
    /// Identifies a stage of a pipeline.
    StageId, "stage"
);
uuid_id!(
    /// Identifies a deal.
    DealId, "deal"
);
uuid_id!(
    /// Identifies a user of a tenant.
    UserId, "user"
);
uuid_id!(
    /// Identifies a team of users.
    TeamId, "team"
);

/// A tenant's slug: 1 to 63 characters of `a-z`, `0-9` and `-`, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(String);

impl TenantSlug {
    /// Validates a slug.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::field(
                "slug",
                "1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            ))
        }
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantSlug {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TenantSlug> for String {
    fn from(s: TenantSlug) -> Self {
        s.0
    }
}

impl FromStr for TenantSlug {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Who made a change, as recorded in the event log (`cli`, `admin`, `plugin:kith.rfm@1.0.0`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Actor(String);

impl Actor {
    /// An actor with this name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The actor's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
