// glibc's allocator spends a sixth of the request path in malloc/free under load
// (measured with perf on the ingest benchmark); mimalloc's per-thread heaps do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    aduan::cli::main()
}
