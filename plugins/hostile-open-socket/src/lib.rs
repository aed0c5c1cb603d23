//! Hostile test plugin `kith.test.open-socket`: `score` tries to open a TCP
//! connection to 127.0.0.1:9 (discard) and reports the outcome.
//!
//! Reason code `socket-connected` (score 1) means the sandbox leaked;
//! `socket-denied` (score 0, message: the error) means it held.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use kith_plugin_sdk::{CustomerInput, Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer};

/// The plugin.
#[derive(Debug)]
pub struct OpenSocket;

/// Where it tries to connect.
pub const TARGET: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    9,
));

impl Plugin for OpenSocket {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.open-socket",
            env!("CARGO_PKG_VERSION"),
            "Hostile: open socket",
        )
        .description("Test plugin: tries std::net::TcpStream::connect to 127.0.0.1:9")
    }
}

impl Scorer for OpenSocket {
    fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
        Ok(
            match TcpStream::connect_timeout(&TARGET, Duration::from_millis(200)) {
                Ok(stream) => {
                    let peer = stream
                        .peer_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    ScoreOutput::new(1.0).reason(
                        "socket-connected",
                        format!("connected to {peer}"),
                        1.0,
                    )
                }
                Err(err) => ScoreOutput::new(0.0).reason("socket-denied", err.to_string(), 0.0),
            },
        )
    }
}

kith_plugin_sdk::export_plugin!(OpenSocket, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};

    use super::*;

    #[test]
    fn reports_one_outcome() {
        assert_manifest_valid::<OpenSocket>();
        let output = Harness::<OpenSocket>::new("")
            .score(customer("c").build())
            .unwrap();
        assert!(["socket-connected", "socket-denied"].contains(&output.reasons[0].code.as_str()));
    }
}
