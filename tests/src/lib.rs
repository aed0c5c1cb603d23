//! Shared helpers for Kith integration tests.
