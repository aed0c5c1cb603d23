// jemalloc, not glibc's malloc: the committer, the HTTP workers and the plugin calls allocate
// and free on many threads, where glibc's malloc took 13 to 16 % more of a request's server CPU
// on a small store and a few percent on bench/http.sh's (bench/README.md, thirteenth step).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// jemalloc's options, read at its first allocation (`_RJEM_MALLOC_CONF` in the environment
// takes precedence). A background thread returns pages freed more than a second ago to the
// system: jemalloc's default keeps them ten seconds, and an arena no thread uses any more until
// one does, which kept a webhook burst's memory resident.
#[cfg(not(target_env = "msvc"))]
#[allow(unsafe_code)] // A symbol jemalloc reads; the name is jemalloc's own and defined once.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &u8 = &b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];

fn main() {
    std::process::exit(kith::cli::main())
}
