//! Criterion benches for retry-core (filled in below).
fn main() {}
