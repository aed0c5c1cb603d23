//! A router that remembers its routes, so that a test can check each one against the OpenAPI
//! document (axum cannot list a router's routes).

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, on};

use super::AppState;

/// Routes being assembled: the axum router and the (method, path) of each route.
#[derive(Debug, Default)]
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, &'static str)>,
}

macro_rules! verbs {
    ($($name:ident => $method:ident),*) => {$(
        /// Adds a handler for this method on `path`.
        #[must_use]
        pub fn $name<H, T>(mut self, path: &'static str, handler: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.table.push((Method::$method, path));
            self.router = self.router.route(path, on(MethodFilter::$method, handler));
            self
        }
    )*};
}

impl Routes {
    /// No routes.
    pub fn new() -> Self {
        Self::default()
    }

    verbs!(get => GET, post => POST, patch => PATCH, put => PUT, delete => DELETE);

    /// Adds every route of `other`.
    #[must_use]
    pub fn merge(mut self, other: Routes) -> Self {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }

    /// The (method, path) of every route.
    pub fn table(&self) -> &[(Method, &'static str)] {
        &self.table
    }

    pub(super) fn into_router(self) -> Router<AppState> {
        self.router
    }
}
