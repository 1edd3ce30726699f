//! `switchyard-under-test`: the `switchyard` binary's entry point, built inside the test crate so
//! the end-to-end tests run exactly what users run, found through `CARGO_BIN_EXE_switchyard-under-test`.

fn main() -> std::process::ExitCode {
    cli::run()
}
