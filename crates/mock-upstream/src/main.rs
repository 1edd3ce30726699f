//! `switchyard-mock-upstream`: runs the fake provider server until Ctrl-C.
//!
//! Point an OpenAI client at `http://HOST:PORT/v1`, an Anthropic client at `http://HOST:PORT`, and
//! script failures with `POST /__control/script` (see the library docs).

use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use clap::Parser;
use switchyard_mock_upstream::MockUpstream;

/// A fake OpenAI / Azure OpenAI / Anthropic server with scriptable failures.
#[derive(Debug, Parser)]
#[command(name = "switchyard-mock-upstream", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// Fixed pre-serialized answers, no scripting and no hit log: for benchmarks.
    #[arg(long)]
    fast: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let upstream = MockUpstream::builder()
        .addr(SocketAddr::new(args.host, args.port))
        .fast(args.fast)
        .start()
        .await?;
    let mode = if args.fast { "fast" } else { "scripted" };
    println!(
        "switchyard-mock-upstream ({mode}) listening on {}\n  OpenAI base:    {}\n  Anthropic base: {}\n  control API:    {}/__control/",
        upstream.base_url(),
        upstream.openai_base(),
        upstream.anthropic_base(),
        upstream.base_url(),
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    upstream.shutdown().await;
    Ok(())
}
