//! OpenAPI schemas for the types that serialize as a string (ids, contact details, codes, times):
//! derived schemas would describe their Rust representation instead of their JSON.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};

use super::{
    Actor, Country, Currency, CustomerId, Date, DealId, Email, InteractionId, Phone, PipelineId,
    StageId, Tag, TeamId, TenantSlug, Timestamp, UserId,
};

fn string(format: Option<SchemaFormat>, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(format)
        .description(Some(description))
        .examples([serde_json::Value::from(example)])
        .into()
}

macro_rules! string_schema {
    ($($ty:ty => $format:expr, $description:literal, $example:literal;)*) => {$(
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                string($format, $description, $example)
            }
        }
        impl utoipa::ToSchema for $ty {}
    )*};
}

fn uuid() -> Option<SchemaFormat> {
    Some(SchemaFormat::Custom("uuid".to_owned()))
}

string_schema! {
    CustomerId => uuid(), "A customer's id", "0190a5c4-8f3e-7b2a-9c1d-2e3f4a5b6c7d";
    InteractionId => uuid(), "An interaction's id", "0190a5c4-8f3e-7b2a-9c1d-2e3f4a5b6c7e";
    PipelineId => uuid(), "A pipeline's id", "0190a5c4-8f3e-7b2a-9c1d-2e3f4a5b6c7f";
    StageId => uuid(), "A stage's id", "0190a5c4-8f3e-7b2a-9c1d-2e3f4a5b6c80";
    DealId => uuid(), "A deal's id", "0190a5c4-8f3e-7b2a-9c1d-2e3f4a5b6c81";
    UserId => uuid(), "A user's id", "0190a5c4-8f3e-7b2a-9c1d-2e3f4a5b6c82";
    TeamId => uuid(), "A team's id", "0190a5c4-8f3e-7b2a-9c1d-2e3f4a5b6c83";
    Timestamp => Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)),
        "A UTC instant (RFC 3339)", "2026-03-01T09:30:00Z";
    Date => Some(SchemaFormat::KnownFormat(KnownFormat::Date)), "A calendar date", "2026-03-01";
    Email => Some(SchemaFormat::KnownFormat(KnownFormat::Email)), "An email address", "ada@example.com";
    Phone => None, "A phone number in E.164 form", "+4930123456";
    Country => None, "An ISO 3166-1 alpha-2 country code", "DE";
    Currency => None, "An ISO 4217 currency code", "EUR";
    Tag => None, "A tag: 1 to 64 characters, lowercased", "b2b";
    TenantSlug => None, "A tenant's slug: a-z, 0-9 and '-'", "acme";
    Actor => None, "Who made a change: `admin`, `tenant`, `user:ID`, `plugin:NAME`", "admin";
}
