//! The `switchyard` command as a library: argument parsing and the `serve`, `check`,
//! `simulate` and `mock-upstream` commands. Thin: it parses arguments and calls the
//! libraries; it is also the one place that names concrete provider crates.
//!
//! The binary's `main` is [`run`]; end-to-end tests build the same entry point.

mod providers;
mod serve;
mod simulate;

use std::{net::IpAddr, path::PathBuf};

use clap::{Parser, Subcommand};

/// Switchyard: an OpenAI-compatible LLM gateway with retries, fallbacks and cooldowns.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the proxy (with no --config: an embedded demo of mock deployments, no key needed).
    Serve {
        /// LiteLLM-style config.yaml.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address to listen on (overrides the config).
        #[arg(long)]
        host: Option<IpAddr>,
        /// Port to listen on (overrides the config).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Validate a config and print the resolved deployments, secrets redacted.
    Check {
        /// LiteLLM-style config.yaml.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the retry timeline a policy gives for a scripted sequence of failures.
    Simulate(simulate::SimulateArgs),
    /// Run the fault-injecting mock upstream (OpenAI, Azure and Anthropic wire formats).
    MockUpstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Port to listen on.
        #[arg(long, default_value_t = 8089)]
        port: u16,
        /// Fixed answers, no scripting or hit log: for benchmarks.
        #[arg(long)]
        fast: bool,
    },
}

/// Parses the process arguments and runs the command: the whole `switchyard` binary.
pub fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config, host, port } => serve::serve(config, host, port),
        Command::Check { config } => serve::check(&config),
        Command::Simulate(args) => simulate::run(&args),
        Command::MockUpstream { host, port, fast } => serve::mock_upstream(host, port, fast),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
