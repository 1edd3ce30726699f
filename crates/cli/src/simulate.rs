//! `switchyard simulate`: prints the retry timeline a policy gives for scripted failures.

use std::time::Duration;

use anyhow::{Context, bail};
use rand::{SeedableRng, rngs::StdRng};
use retry_core::{
    BackoffConfig, Decision, ErrorKind, RetryHint, RetryLimits, RetryPolicy,
    simulate::{Outcome, Scenario, timeline},
};

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// Failures in order, comma-separated: a kind (`timeout`, `rate_limit`, `internal_server`,
    /// `bad_request`, ...) or an HTTP status (`429`, `503`), optionally with a hint: `429:3s`.
    #[arg(long, value_delimiter = ',', default_value = "429:2s,503,503")]
    failures: Vec<String>,
    /// The router's num_retries.
    #[arg(long)]
    num_retries: Option<u32>,
    /// A request's num_retries (overrides every policy).
    #[arg(long)]
    request_retries: Option<u32>,
    /// Minimum wait before any retry, e.g. `1s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    retry_after: Option<Duration>,
    /// Retry policy as `Field=N` pairs with the guide's names, e.g. `RateLimitErrorRetries=5`.
    #[arg(long, value_delimiter = ',')]
    policy: Vec<String>,
    /// Total timeout of the request, e.g. `30s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Deployments in the group (a fresh sibling gets zero backoff).
    #[arg(long, default_value_t = 1)]
    deployments: usize,
    /// Fallback groups after the requested one.
    #[arg(long, default_value_t = 0)]
    fallbacks: usize,
    /// Seed of the jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_kind(s: &str) -> anyhow::Result<ErrorKind> {
    if let Ok(status) = s.parse::<u16>() {
        return ErrorKind::from_status(status)
            .with_context(|| format!("status {status} is not an error status"));
    }
    ErrorKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .with_context(|| {
            let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
            format!(
                "unknown failure `{s}`: use an HTTP status or one of {}",
                names.join(", ")
            )
        })
}

fn parse_failure(s: &str) -> anyhow::Result<Outcome> {
    let (kind, hint) = match s.split_once(':') {
        Some((k, h)) => (
            k,
            Some(humantime::parse_duration(h).with_context(|| format!("bad hint `{h}` in `{s}`"))?),
        ),
        None => (s, None),
    };
    let hint = hint.map(RetryHint::after).unwrap_or_default();
    Ok(Outcome::Fail(parse_kind(kind.trim())?, hint))
}

fn parse_policy(pairs: &[String]) -> anyhow::Result<Option<RetryPolicy>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut p = RetryPolicy::default();
    for pair in pairs {
        let (name, n) = pair
            .split_once('=')
            .with_context(|| format!("`{pair}` is not Field=N"))?;
        let n: u32 = n
            .parse()
            .with_context(|| format!("`{n}` is not a number"))?;
        let slot = match name {
            "TimeoutErrorRetries" => &mut p.timeout,
            "RateLimitErrorRetries" => &mut p.rate_limit,
            "InternalServerErrorRetries" => &mut p.internal_server,
            "BadRequestErrorRetries" => &mut p.bad_request,
            "AuthenticationErrorRetries" => &mut p.authentication,
            "ContentPolicyViolationErrorRetries" => &mut p.content_policy_violation,
            "UnsupportedParamsRetries" => &mut p.unsupported_params,
            "ServiceUnavailableErrorRetries" => &mut p.service_unavailable,
            "NotFoundErrorRetries" => &mut p.not_found,
            "ContextWindowExceededErrorRetries" => &mut p.context_window_exceeded,
            other => bail!("unknown retry policy field `{other}`"),
        };
        *slot = Some(n);
    }
    Ok(Some(p))
}

/// Runs `simulate` and prints the timeline.
pub(crate) fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let outcomes = args
        .failures
        .iter()
        .map(|f| parse_failure(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let policy = parse_policy(&args.policy)?;
    let mut backoff = BackoffConfig::default();
    if let Some(r) = args.retry_after {
        backoff.retry_after = r;
    }
    let scenario = Scenario {
        outcomes,
        limits: RetryLimits {
            request: args.request_retries,
            policy: policy.as_ref(),
            router: args.num_retries,
            ..Default::default()
        },
        backoff,
        timeout: args.timeout,
        deployments: args.deployments,
        fallback_groups: args.fallbacks,
    };
    let steps = timeline(&scenario, &mut StdRng::seed_from_u64(args.seed));
    println!(
        "{:>9}  {:<7} {:<5} {:<26} decision",
        "at", "group", "dep", "outcome"
    );
    for s in &steps {
        let outcome = match s.outcome {
            Outcome::Success => "success".to_owned(),
            Outcome::Fail(kind, hint) => match hint.after {
                Some(h) => format!("{kind} (hint {h:?})"),
                None => kind.to_string(),
            },
        };
        let decision = match s.decision {
            None => "done".to_owned(),
            Some(Decision::Retry {
                target,
                wait,
                retry_number,
                allowed,
            }) => {
                format!("retry {retry_number}/{allowed} on {target:?} deployment after {wait:.3?}")
            }
            Some(Decision::FallBack { list, reason }) => {
                format!("fall back ({list:?}) because {reason:?}")
            }
            Some(Decision::GiveUp { reason }) => format!("give up: {reason:?}"),
        };
        let group = if s.group == 0 {
            "main".to_owned()
        } else {
            format!("fb{}", s.group)
        };
        println!(
            "{:>8.3}s  {:<7} {:<5} {:<26} {decision}",
            s.at.as_secs_f64(),
            group,
            s.deployment,
            outcome
        );
    }
    Ok(())
}
