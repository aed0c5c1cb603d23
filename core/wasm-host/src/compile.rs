//! Compiling a component where a pathological one cannot hurt the server: in a child process
//! with a memory and a CPU-time limit, killed at a wall-clock deadline.
//!
//! Cranelift's memory and time grow faster than linearly on some inputs (one function with
//! thousands of locals live across a large `br_table` loop): a 224 KB component drove an
//! in-process compilation past 2.5 GB. In the child, the same component exhausts the child's
//! own limit and the install fails with `too-complex`; the server does not notice.
//!
//! The child is the `kith` binary itself (`kith __compile-plugin`, see [`child_main`]): it
//! reads the component on stdin, sets its own `RLIMIT_DATA` and `RLIMIT_CPU`, compiles with the
//! same code generation settings as the server's engine and writes the precompiled artifact on
//! stdout, which the server then deserializes.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::PluginFailure;

/// The hidden `kith` subcommand that compiles a component in a child process.
pub const CHILD_COMMAND: &str = "__compile-plugin";

/// Exit code of a child that found the component invalid (its stderr says why).
const EXIT_INVALID: i32 = 2;
/// Exit code of a child that ran out of its memory limit and noticed.
const EXIT_OUT_OF_MEMORY: i32 = 3;
/// Exit code of a child that was called wrongly.
const EXIT_USAGE: i32 = 64;
/// Most of the child's stderr kept for the error message.
const STDERR_KEPT: u64 = 16 * 1024;

/// Where components are compiled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Compiler {
    /// In the calling thread. Fast and simple, but a pathological component can use as much
    /// memory and time as it likes: for tests and trusted components only.
    #[default]
    InProcess,
    /// In a child process with limits (what `kith serve` and `kith plugin` use).
    Subprocess(SubprocessCompiler),
}

/// A child process that compiles one component within limits.
///
/// Both limits grow with the component, because an honest compiler's needs do: the child may
/// use `memory_bytes` plus [`Self::MEMORY_PER_BYTE`] bytes per byte of component, and take
/// `timeout` plus [`Self::TIME_PER_MIB`] per MiB. Measured here: the reference plugins (120 to
/// 420 KB) need 30 to 35 MB and under a second; a 47 KB component built to defeat register
/// allocation needs 525 MB and 6 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubprocessCompiler {
    /// The executable to run as `<exe> __compile-plugin`: a `kith` binary of the same build.
    pub exe: PathBuf,
    /// The child's base data limit (`RLIMIT_DATA`: heap and private writable mappings).
    pub memory_bytes: u64,
    /// The base wall-clock limit; the child's CPU limit (`RLIMIT_CPU`) is the same.
    pub timeout: Duration,
}

impl SubprocessCompiler {
    /// Default base memory limit: 512 MiB.
    pub const DEFAULT_MEMORY_BYTES: u64 = 512 << 20;
    /// Default base time limit: 20 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
    /// Memory allowed per byte of component, over the base.
    pub const MEMORY_PER_BYTE: u64 = 128;
    /// Time allowed per MiB of component, over the base.
    pub const TIME_PER_MIB: Duration = Duration::from_secs(4);

    /// The memory limit for a component of `size` bytes.
    pub fn memory_limit(&self, size: usize) -> u64 {
        self.memory_bytes
            .saturating_add((size as u64).saturating_mul(Self::MEMORY_PER_BYTE))
    }

    /// The time limit for a component of `size` bytes.
    pub fn time_limit(&self, size: usize) -> Duration {
        self.timeout
            .saturating_add(Self::TIME_PER_MIB.mul_f64(size as f64 / f64::from(1 << 20)))
    }

    /// This very executable (which must be `kith`) as the compiler, with the default limits.
    pub fn this_executable() -> std::io::Result<Self> {
        Ok(Self {
            exe: std::env::current_exe()?,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }

    /// Compiles `bytes` in a child process; returns the precompiled artifact.
    ///
    /// Errors: `TooComplex` (the child ran out of memory or time), `NotAComponent` (the
    /// component is invalid), `Host` (the child could not be run).
    pub(super) fn compile(&self, bytes: &[u8]) -> Result<Vec<u8>, PluginFailure> {
        let limits = (self.memory_limit(bytes.len()), self.time_limit(bytes.len()));
        let (memory, timeout) = limits;
        let cpu_secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let mut child = Command::new(&self.exe)
            .arg(CHILD_COMMAND)
            .arg(memory.to_string())
            .arg(cpu_secs.max(1).to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                PluginFailure::Host(format!(
                    "cannot start the plugin compiler {}: {e}",
                    self.exe.display()
                ))
            })?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PluginFailure::Host(
                "the plugin compiler has no pipes".into(),
            ));
        };
        let (done, finished) = mpsc::channel();
        std::thread::scope(|scope| {
            // The child reads all of stdin before it compiles; write it on a thread of its own
            // so that a child that never reads cannot block us past the deadline.
            scope.spawn(move || {
                let _ = stdin.write_all(bytes);
            });
            let errors = scope.spawn(move || {
                let mut kept = String::new();
                let mut stderr = stderr;
                let _ = (&mut stderr).take(STDERR_KEPT).read_to_string(&mut kept);
                let _ = std::io::copy(&mut stderr, &mut std::io::sink());
                kept
            });
            let output = scope.spawn(move || {
                let mut artifact = Vec::new();
                let read = { stdout }.read_to_end(&mut artifact);
                let _ = done.send(());
                read.map(|_| artifact)
            });
            let timed_out = matches!(
                finished.recv_timeout(timeout),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
            if timed_out {
                let _ = child.kill();
            }
            let status = child.wait();
            let artifact = output
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the compiler's reader panicked")));
            let stderr = errors.join().unwrap_or_default();
            let status = status.map_err(|e| {
                PluginFailure::Host(format!("cannot wait for the plugin compiler: {e}"))
            })?;
            outcome(limits, timed_out, status, artifact, &stderr)
        })
    }
}

/// What the child's end means, given its (memory, time) limits.
fn outcome(
    (memory, timeout): (u64, Duration),
    timed_out: bool,
    status: ExitStatus,
    artifact: std::io::Result<Vec<u8>>,
    stderr: &str,
) -> Result<Vec<u8>, PluginFailure> {
    let too_slow = || {
        PluginFailure::TooComplex(format!(
            "compiling it takes longer than the {:.1} s the host allows for a component \
             of this size (plugin_compile_timeout_secs)",
            timeout.as_secs_f64()
        ))
    };
    let too_big = || {
        PluginFailure::TooComplex(format!(
            "compiling it needs more than the {} MiB of memory the host allows for a \
             component of this size (plugin_compile_memory_bytes)",
            memory >> 20
        ))
    };
    if timed_out {
        return Err(too_slow());
    }
    let message = stderr.trim().lines().last().unwrap_or("").to_owned();
    if status.success() {
        return artifact
            .map_err(|e| PluginFailure::Host(format!("cannot read the compiled plugin: {e}")));
    }
    match status.code() {
        Some(EXIT_INVALID) => Err(PluginFailure::NotAComponent(format!(
            "invalid component: {message}"
        ))),
        Some(EXIT_OUT_OF_MEMORY) => Err(too_big()),
        Some(code) => Err(PluginFailure::Host(format!(
            "the plugin compiler exited with {code}: {message}"
        ))),
        None => Err(killed(status, stderr).map_or_else(
            || {
                PluginFailure::Host(format!(
                    "the plugin compiler was stopped ({status}): {message}"
                ))
            },
            |limit| match limit {
                Limit::Memory => too_big(),
                Limit::Time => too_slow(),
            },
        )),
    }
}

/// Which limit stopped a child that died of a signal.
enum Limit {
    Memory,
    Time,
}

/// The limit a signal stands for: an abort after a failed allocation (or a segfault on a failed
/// stack or guard mapping) is memory; SIGXCPU or SIGKILL from `RLIMIT_CPU` is time.
#[cfg(unix)]
fn killed(status: ExitStatus, stderr: &str) -> Option<Limit> {
    use std::os::unix::process::ExitStatusExt as _;
    const SIGABRT: i32 = 6;
    const SIGKILL: i32 = 9;
    const SIGSEGV: i32 = 11;
    const SIGXCPU: i32 = 24;
    match status.signal()? {
        SIGABRT if stderr.contains("memory allocation") => Some(Limit::Memory),
        SIGABRT | SIGSEGV => Some(Limit::Memory),
        SIGXCPU | SIGKILL => Some(Limit::Time),
        _ => None,
    }
}

#[cfg(not(unix))]
fn killed(_: ExitStatus, _: &str) -> Option<Limit> {
    None
}

/// The child's side of [`SubprocessCompiler`]: `kith __compile-plugin MEMORY_BYTES CPU_SECS`.
/// Limits itself, reads a component on stdin, writes the precompiled artifact on stdout, and
/// returns the process's exit code.
pub fn child_main(args: &[String]) -> i32 {
    let (Some(memory), Some(cpu)) = (
        args.first().and_then(|a| a.parse::<u64>().ok()),
        args.get(1).and_then(|a| a.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: kith {CHILD_COMMAND} MEMORY_BYTES CPU_SECS (component on stdin)");
        return EXIT_USAGE;
    };
    if let Err(e) = limit_self(memory, cpu) {
        eprintln!("cannot limit the compiler process: {e}");
        return EXIT_USAGE;
    }
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut bytes) {
        eprintln!("cannot read the component: {e}");
        return EXIT_USAGE;
    }
    let engine = match wasmtime::Engine::new(&super::runtime::codegen_config()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "cannot create the compiler: {}",
                super::runtime::one_line(&e)
            );
            return exit_for(&e);
        }
    };
    match engine.precompile_component(&bytes) {
        Ok(artifact) => match std::io::stdout().lock().write_all(&artifact) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("cannot write the compiled component: {e}");
                EXIT_USAGE
            }
        },
        Err(e) => {
            eprintln!("{}", super::runtime::one_line(&e));
            exit_for(&e)
        }
    }
}

/// An error that is the memory limit speaking, or an invalid component.
fn exit_for(e: &wasmtime::Error) -> i32 {
    let text = super::runtime::one_line(e).to_ascii_lowercase();
    if text.contains("cannot allocate memory") || text.contains("out of memory") {
        EXIT_OUT_OF_MEMORY
    } else {
        EXIT_INVALID
    }
}

/// Niceness of the compiler process: requests are served first, and a long compilation (a
/// Python component takes 15 s or more) takes the cores they leave idle.
#[cfg(unix)]
const COMPILER_NICENESS: i32 = 10;

/// Sets this process's data and CPU-time limits and lowers its priority.
#[cfg(unix)]
fn limit_self(memory: u64, cpu_secs: u64) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setpriority_process, setrlimit};
    setpriority_process(None, COMPILER_NICENESS)?;
    setrlimit(
        Resource::Data,
        Rlimit {
            current: Some(memory),
            maximum: Some(memory),
        },
    )?;
    setrlimit(
        Resource::Cpu,
        Rlimit {
            current: Some(cpu_secs),
            maximum: Some(cpu_secs.saturating_add(1)),
        },
    )?;
    Ok(())
}

#[cfg(not(unix))]
fn limit_self(_: u64, _: u64) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "compiling in a limited child process needs a Unix system",
    ))
}
