//! The domain model: tenants, customers, interactions, pipelines, deals and events.
//!
//! Free of storage and transport types; every constructor validates its input and names the
//! offending field in its error.

mod action;
mod breaker;
mod compact;
mod consent;
mod contact;
mod customer;
mod error;
mod event;
mod fields;
mod ids;
mod interaction;
mod merge;
mod money;
#[cfg(feature = "openapi")]
mod openapi;
mod patch;
mod pipeline;
mod plugin;
mod report;
mod sales;
mod tenant;
mod time;
mod user;
mod work;

#[cfg(test)]
mod tests;

pub use self::time::{Date, Timestamp};
pub use action::{Action, CustomerFields, CustomerRef, LogInteraction, PipelineRef};
pub use breaker::{Breaker, Outcomes};
pub use consent::{
    Consent, ConsentChannel, ConsentInput, ConsentSource, ConsentStatus, MARKETING,
    MAX_CONSENT_HISTORY, MAX_CONSENTS, consent_purpose,
};
pub use contact::{Country, Email, EmailLikeness, Phone};
pub use customer::{
    AttributeValue, Customer, CustomerInput, CustomerKind, CustomerPatch, Demographics,
    DemographicsPatch, ExternalId, LifecycleStage, Location, LocationPatch, Tag, attribute_key,
};
pub use error::{Checker, FieldError, ValidationError};
pub use event::{EntityRef, Event, EventKind, FieldChange, MAX_CHANGE_VALUE_CHARS};
pub use fields::{
    FieldDefinition, FieldDefinitionInput, FieldObject, FieldType, MAX_FIELD_DEFINITIONS,
    MAX_FIELD_OPTIONS, MAX_INDEXED_TEXT, check_fields,
};
pub use ids::{
    Actor, CustomerId, DealId, InteractionId, PipelineId, StageId, TeamId, TenantSlug, UserId,
};
pub use interaction::{
    Channel, Direction, Interaction, InteractionInput, InteractionKind, InteractionPatch, Priority,
    TaskStatus,
};
pub use money::{Currency, Money, MoneyError};
pub use patch::{DealPatch, PipelinePatch, StageChange, TenantPatch};
pub use pipeline::{
    Deal, DealInput, DealStatus, MAX_DEAL_ATTRIBUTES, Pipeline, PipelineInput, Stage,
    StageCategory, StageInput, StageVisit,
};
pub use plugin::{
    Delivery, Enablement, FailureRecord, InstalledPlugin, JobState, LimitOverrides,
    PLUGIN_ACTOR_PREFIX, PluginHealth, Producer, ScoreReason, SegmentMembership, StoredJob,
    StoredModel, StoredScore, StoredSegments, WebhookSignature,
};
pub use report::{LostReasonReport, PipelineReport, ReportBuilder, StageReport};
pub use sales::{
    ForecastRow, MAX_DAILY_REPORT_DAYS, MAX_REPORT_DAYS, Period, PipelineRow, Quota, QuotaSubject,
    SalesReport, SalesReportBuilder, SalesRow, check_range,
};
pub use tenant::{Tenant, TenantInput};
pub use user::{MAX_TEAMS_PER_USER, Role, Team, TeamInput, TeamPatch, User, UserInput, UserPatch};
pub use work::{CategoryRow, WorkReport, WorkReportBuilder, WorkRow};
