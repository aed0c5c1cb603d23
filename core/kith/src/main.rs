// jemalloc, not glibc's malloc: the committer, the HTTP workers and the plugin calls allocate
// and free on many threads, where glibc's arenas cost 10 to 16 % of a request's server CPU
// (bench/README.md, thirteenth step).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// jemalloc's options, read at its first allocation (`_RJEM_MALLOC_CONF` in the environment
// takes precedence). A background thread returns pages freed more than a second ago to the
// system: jemalloc's default keeps them ten seconds, and an idle thread's arena until that
// thread allocates again, which kept a webhook burst's memory resident.
#[cfg(not(target_env = "msvc"))]
#[allow(unsafe_code)] // A symbol jemalloc reads; the name is jemalloc's own and defined once.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &u8 = &b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];

fn main() {
    std::process::exit(kith::cli::main())
}
