//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failure.
//!
//! `.ci/run` calls this and nothing else, so a developer who runs `cargo xtask ci` locally runs
//! exactly what CI runs. The steps: environment setup (redis-server, a Python venv with the OpenAI
//! SDK), `cargo fmt --check`, `cargo clippy -D warnings`, `cargo doc` with rustdoc warnings denied,
//! `cargo test --workspace`, and the checks, tests and example of `examples/provider-template`
//! when that directory exists. Each step prints its time; the run ends with a summary and the
//! total.

mod setup;

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

use crate::util::{cargo, project_root, run as run_cmd, target_dir};

/// Where the provider-template example lives; it is its own workspace, so it is built separately.
const PROVIDER_TEMPLATE: &str = "examples/provider-template";

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask ci` takes no arguments, got `{arg}`");
    }
    let root = project_root();
    let mut steps = Steps::new("xtask ci");

    let target = steps.run("setup: target dir", None, || target_dir(&root))?;
    let redis_server = steps.run("setup: redis-server", None, setup::redis_server)?;
    let python = steps.run("setup: python venv", None, || setup::python_venv(&target))?;
    let env = setup::CiEnv {
        redis_server,
        python,
    };
    println!("{}", env.describe());

    steps.run(
        "fmt",
        Some("run `cargo fmt --all` and commit the result"),
        || {
            run_cmd(
                cargo()
                    .args(["fmt", "--all", "--", "--check"])
                    .current_dir(&root),
            )
        },
    )?;
    steps.run("clippy", None, || {
        run_cmd(
            cargo()
                .args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    // A stale Cargo.lock fails here instead of being rewritten behind CI's back.
                    "--locked",
                    "--",
                    "-D",
                    "warnings",
                ])
                .current_dir(&root),
        )
    })?;
    steps.run(
        "doc",
        Some("fix the rustdoc warnings above (broken intra-doc links, bad code blocks)"),
        || {
            run_cmd(
                cargo()
                    .args(["doc", "--workspace", "--no-deps"])
                    .env("RUSTDOCFLAGS", "-D warnings")
                    .current_dir(&root),
            )
        },
    )?;
    steps.run("test", None, || {
        run_cmd(
            env.apply(
                cargo()
                    .args(["test", "--workspace", "--locked"])
                    .current_dir(&root),
            ),
        )
    })?;

    let template_manifest = root.join(PROVIDER_TEMPLATE).join("Cargo.toml");
    if template_manifest.is_file() {
        // The template is its own workspace: the steps above do not reach it. It gets the same
        // checks (fmt, clippy, tests), and its example runs, since the docs tell authors to run it.
        let template = |args: &[&str]| {
            let mut cmd = cargo();
            cmd.args(args)
                .arg("--manifest-path")
                .arg(&template_manifest)
                .env("CARGO_TARGET_DIR", &target)
                .current_dir(&root);
            cmd
        };
        steps.run(
            "provider-template",
            Some("run `cargo fmt` in examples/provider-template if only formatting failed"),
            || {
                run_cmd(template(&["fmt"]).args(["--", "--check"]))?;
                // `--locked`: the template's own Cargo.lock is committed too, and must follow
                // the workspace crates it depends on by path.
                run_cmd(
                    template(&["clippy", "--all-targets", "--locked"])
                        .args(["--", "-D", "warnings"]),
                )?;
                run_cmd(env.apply(&mut template(&["test", "--locked"])))?;
                run_cmd(&mut template(&[
                    "run",
                    "--quiet",
                    "--locked",
                    "--example",
                    "router",
                ]))
            },
        )?;
    } else {
        steps.skip(
            "provider-template",
            &format!("no {PROVIDER_TEMPLATE}/Cargo.toml"),
        );
    }

    println!("{}", steps.summary());
    println!("xtask ci: all checks passed");
    Ok(())
}

/// Runs the steps of a CI run (or of a release), timing each one and remembering the results
/// for the summary.
pub(crate) struct Steps {
    /// The command, such as `xtask ci`, shown before every step.
    label: &'static str,
    started: Instant,
    done: Vec<(String, Outcome)>,
}

enum Outcome {
    Passed(Duration),
    Failed(Duration),
    Skipped(String),
}

impl Steps {
    pub(crate) fn new(label: &'static str) -> Self {
        Self {
            label,
            started: Instant::now(),
            done: Vec::new(),
        }
    }

    /// Runs one step. On failure it prints the summary so far and returns an error that names the
    /// step (and says what to do, when there is one obvious fix).
    pub(crate) fn run<T>(
        &mut self,
        name: &str,
        hint: Option<&str>,
        step: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let label = self.label;
        println!("\n==> {label}: {name}");
        let started = Instant::now();
        let result = step();
        let took = started.elapsed();
        match result {
            Ok(value) => {
                println!("<== {label}: {name} ok in {}", secs(took));
                self.done.push((name.to_owned(), Outcome::Passed(took)));
                Ok(value)
            }
            Err(err) => {
                self.done.push((name.to_owned(), Outcome::Failed(took)));
                eprintln!("{}", self.summary());
                let hint = hint.map(|hint| format!(": {hint}")).unwrap_or_default();
                Err(err.context(format!(
                    "{label}: step `{name}` failed after {}{hint}",
                    secs(took)
                )))
            }
        }
    }

    pub(crate) fn skip(&mut self, name: &str, why: &str) {
        self.done
            .push((name.to_owned(), Outcome::Skipped(why.to_owned())));
    }

    pub(crate) fn summary(&self) -> String {
        let width = self
            .done
            .iter()
            .map(|(name, _)| name.len())
            .max()
            .unwrap_or(0);
        let mut out = format!("\n{} summary:\n", self.label);
        for (name, outcome) in &self.done {
            let line = match outcome {
                Outcome::Passed(took) => format!("ok      {:>8}", secs(*took)),
                Outcome::Failed(took) => format!("FAILED  {:>8}", secs(*took)),
                Outcome::Skipped(why) => format!("skipped           ({why})"),
            };
            // Writing to a String cannot fail.
            let _ = writeln!(out, "  {name:<width$}  {line}");
        }
        let _ = write!(
            out,
            "  {:<width$}  total   {:>8}",
            "",
            secs(self.started.elapsed())
        );
        out
    }
}

fn secs(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_is_named_in_the_error_and_the_summary() {
        let mut steps = Steps::new("xtask ci");
        steps
            .run("first", None, || Ok(()))
            .expect("an Ok step passes");
        let err = steps
            .run("clippy", Some("fix the warnings"), || -> Result<()> {
                bail!("`cargo clippy` failed")
            })
            .expect_err("a failing step fails the run");
        let message = format!("{err:#}");
        assert!(message.contains("step `clippy` failed"), "{message}");
        assert!(message.contains("fix the warnings"), "{message}");
        assert!(message.contains("`cargo clippy` failed"), "{message}");
        let summary = steps.summary();
        assert!(
            summary.contains("first") && summary.contains("ok"),
            "{summary}"
        );
        assert!(
            summary.contains("clippy") && summary.contains("FAILED"),
            "{summary}"
        );
        assert!(summary.contains("total"), "{summary}");
    }
}
