// glibc's allocator contends between threads in malloc/free under load; mimalloc's
// per-thread heaps do not (docs/benchmarks.md has the figure).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Where transparent huge pages are on for every process, the kernel backs
    // mimalloc's arena with 2 MiB pages as it is first touched, and an idle daemon
    // holds pages it barely uses. The heap is small; small pages cost it nothing.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    aduan::cli::main()
}
