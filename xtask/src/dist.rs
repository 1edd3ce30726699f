//! `cargo xtask dist`: will build the release binaries and archives; a stub until its issue is done.

use anyhow::{Result, bail};

/// The issue that tracks this command; the lead fills in the number when it is filed.
const ISSUE: &str = "TBD (cargo xtask dist)";

pub(crate) fn run(_args: &[String]) -> Result<()> {
    bail!("not yet implemented: see issue {ISSUE}")
}
