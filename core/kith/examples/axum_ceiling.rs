//! The ceiling `GET customer` is measured against (`bench/http.sh`): axum on tokio, the same
//! route shape as Kith's, answering every request with the same JSON body from memory. No
//! authentication, no store, no logging, no metrics: what the HTTP stack alone costs on this
//! machine, so that Kith's figure can be given as a ratio of it.
//!
//! ```sh
//! cargo run --release -p kith --example axum_ceiling -- BODY.json [ADDR]   # ADDR: 127.0.0.1:0
//! ```
//!
//! Prints `listening on http://ADDR` on stderr, like `kith serve`.

use axum::Router;
use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let body: &'static [u8] = match args.next() {
        Some(path) => std::fs::read(path)?.leak(),
        None => {
            eprintln!("usage: axum_ceiling BODY.json [ADDR]");
            std::process::exit(2);
        }
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let app = Router::new().route(
        "/v1/tenants/{tenant}/customers/{id}",
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
