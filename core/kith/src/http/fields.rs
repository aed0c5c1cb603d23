//! `/v1/tenants/{tenant}/fields/{object}`: custom field definitions of customers, deals and work
//! items. Values live in the records' `attributes`; a definition makes them checked on every
//! write. A change that stored records would break is refused with those records.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::auth::{TenantRead, TenantWrite};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, IfMatch, Params, json, no_content, versioned};
use super::{AppState, Routes};
use crate::model::FieldError;
use crate::model::{FieldDefinition, FieldDefinitionInput, FieldObject};
use crate::service::customers::AttributeMatch;
use crate::service::fields::{self, Change};

/// Field definition checks (each reads every record of its object) running at once on the
/// server; one per tenant.
pub const MAX_CHECKS: usize = 2;

/// The field definition routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/tenants/{tenant}/fields/{object}", list)
        .get("/v1/tenants/{tenant}/fields/{object}/{key}", get)
        .put("/v1/tenants/{tenant}/fields/{object}/{key}", put)
        .delete("/v1/tenants/{tenant}/fields/{object}/{key}", delete)
}

/// The slots of the checks.
pub(super) fn checks() -> super::export::Running {
    super::export::Running::new(
        "a field definition check",
        MAX_CHECKS,
        ("field_check_running", "field_checks_busy"),
    )
}

/// The definitions of an object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldList {
    /// By key (at most 100).
    pub items: Vec<FieldDefinition>,
}

fn object(params: &Params) -> ApiResult<FieldObject> {
    let raw = params.get("object");
    FieldObject::parse("object", raw).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no object {raw:?} has fields: customer, deal or work_item"),
        )
    })
}

/// List the custom field definitions of `customer`, `deal` or `work_item`.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/fields/{object}", tag = "fields", operation_id = "list_fields",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("object" = String, Path, description = "customer, deal or work_item")),
    responses((status = 200, description = "The definitions, by key", body = FieldList)))]
pub async fn list(
    State(state): State<AppState>,
    t: TenantRead,
    params: Params,
) -> ApiResult<Response> {
    let object = object(&params)?;
    let items = state
        .run(move |s| fields::list(s, &t.tenant, object))
        .await?;
    Ok(json(StatusCode::OK, &FieldList { items }))
}

/// Get a custom field definition.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/fields/{object}/{key}", tag = "fields", operation_id = "get_field",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("object" = String, Path, description = "customer, deal or work_item"),
        ("key" = String, Path, description = "The attribute's key")),
    responses((status = 200, description = "The definition", body = FieldDefinition)))]
pub async fn get(
    State(state): State<AppState>,
    t: TenantRead,
    params: Params,
) -> ApiResult<Response> {
    let object = object(&params)?;
    let key = params.get("key").to_owned();
    let d = state
        .run(move |s| fields::get(s, &t.tenant, object, &key))
        .await?;
    Ok(versioned(StatusCode::OK, &d, d.version))
}

/// Define or redefine a custom field. A stricter definition (new, another type, required, an
/// option removed) is checked against every stored record first: if records break it, it is
/// not changed and the answer is 409 `field_conflicts_with_data` listing the first 10.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/fields/{object}/{key}", tag = "fields", operation_id = "put_field",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("object" = String, Path, description = "customer, deal or work_item"),
        ("key" = String, Path, description = "The attribute's key"),
        ("If-Match" = Option<String>, Header, description = "The version the change expects")),
    request_body(content = FieldDefinitionInput, description = "label, type, options?, required?, filterable?"),
    responses((status = 200, description = "Redefined (or unchanged)", body = FieldDefinition),
        (status = 201, description = "Defined", body = FieldDefinition),
        (status = 409, description = "field_conflicts_with_data, field_check_running", body = super::Problem),
        (status = 412, description = "version_conflict", body = super::Problem),
        (status = 422, description = "invalid_input", body = super::Problem),
        (status = 429, description = "field_checks_busy", body = super::Problem)))]
pub async fn put(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
    IfMatch(version): IfMatch,
    ApiJson(input): ApiJson<FieldDefinitionInput>,
) -> ApiResult<Response> {
    let object = object(&params)?;
    let key = params.get("key").to_owned();
    let slot = state.field_checks().start(&t.tenant)?;
    let actor = t.actor();
    let change = state
        .run(move |s| {
            let _slot = slot;
            fields::set(s, &t.tenant, &actor, (object, &key), input, version)
        })
        .await?;
    match change {
        Change::Set {
            definition,
            created,
        } => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(versioned(status, &definition, definition.version))
        }
        Change::Refused {
            checked,
            violations,
        } => {
            let found = if violations.len() >= fields::MAX_VIOLATIONS {
                format!(
                    "the first {} found are listed; the check stopped there, after {checked} records",
                    violations.len()
                )
            } else {
                format!("{} of the {checked} records break it", violations.len())
            };
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                "field_conflicts_with_data",
                format!(
                    "stored records break this definition ({found}); the definition is \
                     unchanged: change those records, or the definition, and try again"
                ),
            );
            e.errors = violations
                .into_iter()
                .map(|v| FieldError {
                    field: v.field,
                    expected: format!("{} (record {})", v.expected, v.id),
                })
                .collect();
            Err(e)
        }
    }
}

/// Remove a custom field's definition: its values stay, as free-form attributes.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/fields/{object}/{key}", tag = "fields", operation_id = "delete_field",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("object" = String, Path, description = "customer, deal or work_item"),
        ("key" = String, Path, description = "The attribute's key"),
        ("If-Match" = Option<String>, Header, description = "The version the removal expects")),
    responses((status = 204, description = "Removed (or there was none)"),
        (status = 412, description = "version_conflict", body = super::Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
    IfMatch(version): IfMatch,
) -> ApiResult<Response> {
    let object = object(&params)?;
    let key = params.get("key").to_owned();
    let actor = t.actor();
    state
        .run(move |s| fields::remove(s, &t.tenant, &actor, (object, &key), version))
        .await?;
    Ok(no_content())
}

/// The condition of a list's `attribute=KEY:VALUE` parameter: the filterable custom field KEY of
/// `object` holds VALUE (parsed as the field's type). Reads the definitions only when given.
pub(super) async fn attribute_filter(
    state: &AppState,
    tenant: &crate::model::TenantSlug,
    object: FieldObject,
    raw: Option<&str>,
) -> ApiResult<Option<(String, AttributeMatch)>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let tenant = tenant.clone();
    let defs = state
        .run(move |s| s.field_definitions(&tenant, object))
        .await?;
    let keys: Vec<&str> = defs
        .iter()
        .filter(|d| d.filterable)
        .map(|d| d.key.as_str())
        .collect();
    let expected = format!(
        "KEY:VALUE with KEY a filterable custom field of {}s ({})",
        object.as_str().replace('_', " "),
        if keys.is_empty() {
            "none is defined".to_owned()
        } else {
            keys.join(", ")
        }
    );
    let bad = |expected: String| ApiError::field("invalid_query", "attribute", expected);
    let (key, value) = raw.split_once(':').ok_or_else(|| bad(expected.clone()))?;
    let def = defs
        .iter()
        .find(|d| d.key == key && d.filterable)
        .ok_or_else(|| bad(expected))?;
    let value = AttributeMatch::value(def, value).map_err(bad)?;
    Ok(Some((def.key.clone(), value)))
}
