//! Helpers shared by the commands: where the workspace is, and running programs with clear errors.

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};

/// The workspace root. xtask's manifest sits one directory below it.
///
/// Cargo sets `CARGO_MANIFEST_DIR` when it runs us (`cargo xtask`, `cargo test`); the run-time value
/// wins over the compile-time one, because a binary reused from a shared target dir may have been
/// compiled in another checkout.
pub(crate) fn project_root() -> PathBuf {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.clone(), Path::to_path_buf)
}

/// A `cargo` command: the cargo that is running us (env `CARGO`), so toolchain overrides carry over.
pub(crate) fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// The workspace target directory as cargo sees it (honours `CARGO_TARGET_DIR` and `build.target-dir`).
pub(crate) fn target_dir(root: &Path) -> Result<PathBuf> {
    let stdout = output(
        cargo()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(root),
    )?;
    let metadata: serde_json::Value = serde_json::from_str(&stdout)
        .context("`cargo metadata` printed something that is not JSON")?;
    let dir = metadata["target_directory"]
        .as_str()
        .context("`cargo metadata` output has no `target_directory`")?;
    Ok(PathBuf::from(dir))
}

/// Runs `cmd` with inherited stdio and fails, naming the command, unless it exits successfully.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = display(cmd);
    println!("$ {shown}");
    let status = cmd.status().with_context(|| {
        format!("could not start `{shown}`: is the program installed and on PATH?")
    })?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` and returns its stdout; on failure the error carries its stderr.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let shown = display(cmd);
    let out = cmd.stdin(Stdio::null()).output().with_context(|| {
        format!("could not start `{shown}`: is the program installed and on PATH?")
    })?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    String::from_utf8(out.stdout)
        .with_context(|| format!("`{shown}` printed output that is not UTF-8"))
}

/// Whether `cmd` runs and exits successfully, with its output discarded. For probes such as
/// "does this Python import openai", where failing is an answer rather than an error.
pub(crate) fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The first executable file called `name` in a directory of `PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file we may execute.
pub(crate) fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// A command as a user could paste it into a shell (environment overrides are not shown).
fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|part| {
            let part = part.to_string_lossy();
            if part.is_empty()
                || part.contains(|c: char| c.is_whitespace() || "'\"<>|&;$".contains(c))
            {
                format!("'{}'", part.replace('\'', r"'\''"))
            } else {
                part.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_arguments_a_shell_would_split() {
        let mut cmd = Command::new("pip");
        cmd.args(["install", "openai>=1.50,<3", "it's"]);
        assert_eq!(display(&cmd), r"pip install 'openai>=1.50,<3' 'it'\''s'");
    }

    #[test]
    fn project_root_is_the_workspace_root() {
        let manifest = std::fs::read_to_string(project_root().join("Cargo.toml"))
            .expect("the workspace root has a Cargo.toml");
        assert!(
            manifest.contains("[workspace]"),
            "project_root() is not the workspace root"
        );
    }
}
