//! Criterion benches for deployment selection (filled in by the performance issue).
fn main() {}
