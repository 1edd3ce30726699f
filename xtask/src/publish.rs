//! `cargo xtask publish`: will publish the crates to crates.io in dependency order; a stub until its issue is done.

use anyhow::{Result, bail};

/// The issue that tracks this command; the lead fills in the number when it is filed.
const ISSUE: &str = "TBD (cargo xtask publish)";

pub(crate) fn run(_args: &[String]) -> Result<()> {
    bail!("not yet implemented: see issue {ISSUE}")
}
