//! The `switchyard` binary: everything lives in the library, `switchyard_cli::run`.

fn main() -> std::process::ExitCode {
    switchyard_cli::run()
}
