// glibc's allocator contends between threads in malloc/free under load; mimalloc's
// per-thread heaps do not (docs/benchmarks.md has the figure).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    aduan::cli::main()
}
