//! Per-call budgets.

use std::time::Duration;

/// One MiB.
const MIB: u64 = 1 << 20;

/// The budgets of one plugin call. Every call gets a fresh instance with these limits.
///
/// [`Limits::default`] is for per-customer calls (`score`, `classify`) and webhooks;
/// [`Limits::population`] is for the population step, which sees every customer of a tenant.
/// Per-tenant overrides are plain struct updates: `Limits { fuel: 50_000_000, ..Limits::default() }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Instruction budget (wasmtime fuel, about one unit per wasm instruction).
    pub fuel: u64,
    /// Wall-clock deadline, enforced by epoch interruption (granularity: the runtime's epoch tick).
    pub deadline: Duration,
    /// Linear memory the instance may use, summed over its memories.
    pub memory_bytes: u64,
    /// Elements any one table may hold.
    pub table_elements: u32,
    /// Core and component instances one call may create (a Rust component has a handful).
    pub instances: u32,
    /// Encoded size of the input (strings and lists plus fixed-size fields).
    pub input_bytes: u64,
    /// Encoded size of the output, measured the same way.
    pub output_bytes: u64,
}

impl Default for Limits {
    /// 10 M fuel, 50 ms, 16 MiB memory, 20 000 table elements, 16 instances, 256 KiB in, 64 KiB out.
    fn default() -> Limits {
        Limits {
            fuel: 10_000_000,
            deadline: Duration::from_millis(50),
            memory_bytes: 16 * MIB,
            table_elements: 20_000,
            instances: 16,
            input_bytes: 256 * 1024,
            output_bytes: 64 * 1024,
        }
    }
}

impl Limits {
    /// Defaults for the population step: it receives a summary of every customer, so its input
    /// may be 64 MiB, it gets 256 MiB of memory, 10 G fuel, 10 s and 1 MiB for the model it returns.
    /// (A BG/NBD + Gamma-Gamma fit over 23,570 customers uses about 2.3 G.)
    pub fn population() -> Limits {
        Limits {
            fuel: 10_000_000_000,
            deadline: Duration::from_secs(10),
            memory_bytes: 256 * MIB,
            input_bytes: 64 * MIB,
            output_bytes: MIB,
            ..Limits::default()
        }
    }

    /// Defaults for reading a plugin's manifest at load: 1 G fuel, 10 s, 128 MiB of memory.
    /// The manifest is read once per load, outside any request, and an interpreted plugin
    /// starts its interpreter for it (a componentize-py component's image alone is 20 MiB).
    pub fn manifest() -> Limits {
        Limits {
            fuel: 1_000_000_000,
            deadline: Duration::from_secs(10),
            memory_bytes: 128 * MIB,
            ..Limits::default()
        }
    }
}
