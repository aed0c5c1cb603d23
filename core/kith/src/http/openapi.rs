//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations. A test
//! checks that every route of the router is in it.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::PROBLEM_JSON;
use super::customer_search::PartialCustomer;
use super::{
    admin, console, customer_search, customers, deals, docs, events, export, fields, imports,
    interactions, ops, pipelines, plugins, reports, tenants, tokens, users, work,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Kith admin API", description = "Tenants, users and teams, customers, interactions and work items, pipelines, deals, events, plugins, webhooks, segments and scores. Errors are RFC 9457 problem+json with a stable `code`."),
    paths(
        ops::healthz, ops::readyz, ops::metrics, ops::openapi, docs::page, docs::script, docs::style,
        console::root, console::page, console::file,
        admin::backup, admin::stats, export::export, customer_search::search, imports::import_customers,
        imports::import_interactions, imports::list, imports::get,
        tenants::create, tenants::list, tenants::get, tenants::update, tenants::delete,
        tokens::create, tokens::list, tokens::revoke, tokens::whoami,
        customers::create, customers::search, customers::get, customers::update, customers::erase,
        customers::merge, customers::timeline, customers::upsert_batch, customers::duplicates,
        customers::duplicate_pairs,
        interactions::log, interactions::log_batch, interactions::get, interactions::update, interactions::due,
        work::queue, work::overdue, work::service,
        pipelines::create, pipelines::list, pipelines::get, pipelines::update, pipelines::delete,
        pipelines::reorder, pipelines::report, pipelines::deals_of,
        deals::create, deals::upsert_batch, deals::search, deals::get, deals::update, deals::move_to, deals::timeline,
        events::list,
        plugins::upload, plugins::install_job, plugins::list, plugins::get, plugins::uninstall,
        plugins::enabled, plugins::enable, plugins::status, plugins::configure, plugins::disable,
        plugins::upgrade, plugins::reset, plugins::populate, plugins::rescore, plugins::dry_run,
        plugins::job, plugins::hook, plugins::segments, plugins::members, plugins::leaderboard,
        plugins::insights,
        users::create, users::list, users::get, users::update, users::reassign,
        users::create_team, users::list_teams, users::get_team, users::update_team,
        users::delete_team, users::team_members,
        reports::sales, reports::funnel, reports::set_quota, reports::list_quotas, reports::remove_quota,
        fields::list, fields::get, fields::put, fields::delete,
    ),
    components(schemas(super::Problem, users::ReassignRequest, crate::service::users::Reassigned, plugins::EnableBody, plugins::ConfigureBody,
        plugins::UpgradeBody, plugins::LimitsBody, work::OverdueBody, crate::service::interactions::OverdueCount)),
    modifiers(&Bearer, &Problems, &PartialCustomer),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = doc.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// Every error is an RFC 9457 problem: each documented 4xx/5xx answer, and a `default` answer on
/// every operation for the ones it does not list (401, 403, 429, 500, ...).
struct Problems;

impl Modify for Problems {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let problem = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                for (status, answer) in &mut op.responses.responses {
                    if let (Some('4' | '5'), RefOr::T(answer)) = (status.chars().next(), answer) {
                        answer.content.clear();
                        answer.content.insert(PROBLEM_JSON.to_owned(), problem());
                    }
                }
                op.responses.responses.entry("default".to_owned()).or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(
                                "An error, with a stable `code` (e.g. unauthorized, forbidden, rate_limited)",
                            )
                            .content(PROBLEM_JSON, problem())
                            .build(),
                    )
                });
            }
        }
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
