//! `cargo xtask`: Switchyard's project automation, one module per command (see `USAGE`).
//!
//! This is matklad's cargo-xtask pattern: plain Rust instead of shell scripts, so the same checks run
//! on every machine. It stays small and synchronous: no tokio, few dependencies, and nothing in the
//! workspace depends on it. The repository-wide tidy tests live here too (`tidy`, test-only).

mod bench;
mod ci;
mod dist;
mod git;
mod publish;
mod release;
#[cfg(test)]
mod tidy;
mod util;
mod workspace;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci        set up redis-server and a Python venv with the OpenAI SDK, then run
            fmt, clippy, docs and every test, stopping at the first failure
  bench     the proxy load benchmark: direct vs through the proxy at concurrency
            1, 32, 256, plain and streamed; writes docs/benchmarks.md
            (--soak: 5 minutes of load with injected failures, every answer checked)
  dist      build the switchyard binary and pack target/dist/switchyard-<version>-<target>.tar.gz
            with its .sha256, then smoke-test the unpacked binary
  release <version> [--dry-run] [--skip-ci]
            bump every published crate, date CHANGELOG.md, run ci, package every published
            crate, commit and tag v<version>; --dry-run changes nothing
  publish [--dry-run] [--from <crate>]
            cargo publish every published crate in dependency order, from a clean, tagged HEAD
  help      print this message

`cargo xtask <command> --help` says more about release, publish and dist.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match command.as_str() {
        "ci" => ci::run(rest),
        "bench" => bench::run(rest),
        "dist" => dist::run(rest),
        "release" => release::run(rest),
        "publish" => publish::run(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}
