//! `cargo xtask release`: will bump versions, write the changelog and tag a release; a stub until its issue is done.

use anyhow::{Result, bail};

/// The issue that tracks this command; the lead fills in the number when it is filed.
const ISSUE: &str = "TBD (cargo xtask release)";

pub(crate) fn run(_args: &[String]) -> Result<()> {
    bail!("not yet implemented: see issue {ISSUE}")
}
