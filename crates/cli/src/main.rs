//! The `switchyard` binary: everything lives in the library, `switchyard_cli::run`.

// mimalloc instead of glibc's malloc: allocation is a fifth of the proxy's instructions per
// request, and mimalloc's thread-local free lists make it cheaper (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    switchyard_cli::run()
}
