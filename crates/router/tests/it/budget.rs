//! The retry budget: retries limited to a fraction of recent requests, so an outage does
//! not multiply the traffic a sick upstream sees.

use std::time::Duration;

use provider::ErrorKind;
use switchyard_router::{RequestOptions, RetryBudgetConfig, Router};

use crate::support::{dep, failing, req};

#[tokio::test(start_paused = true)]
async fn the_retry_budget_stops_a_retry_storm() {
    let cfg = RetryBudgetConfig {
        ratio: 0.1,
        min_per_second: 1,
        window: Duration::from_secs(10),
    };
    let requests = 100;
    let a = failing("a", ErrorKind::InternalServer);
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        // No backoff, so the whole storm fits in the budget's window.
        .backoff(Duration::ZERO, Duration::ZERO)
        .retry_budget(cfg)
        .seed(1)
        .build()
        .expect("valid router");
    for _ in 0..requests {
        router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect_err("always fails");
    }
    // 100 × (1 + 0.1) + 1/s × 10 s = 120, against 300 without a budget.
    let ceiling = 120;
    assert!(a.calls() <= ceiling, "{} attempts", a.calls());
    assert!(a.calls() > requests, "some retries still go through");
}
