//! Tidy tests: repository-wide rules that `cargo test --workspace` enforces.
//!
//! - every `.rs` file starts with a `//!` line saying what it is (STYLE.md, "Docs and comments");
//! - crates depend on each other only in the directions DESIGN.md allows (`deps`);
//! - `.ci/run` runs `cargo xtask ci` and nothing else, so CI and a local run are the same.
//!
//! Each check is a pure function tested on made-up input, so we know it can fail, and a `#[test]`
//! that applies it to the real repository and reports every violation with its fix.

mod deps;

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::util::project_root;

/// Directories never searched for `.rs` files: build output, git's store, Python venvs.
const SKIPPED_DIRS: [&str; 3] = ["target", ".git", ".venv"];

#[test]
fn every_rs_file_starts_with_a_doc_line() {
    let root = project_root();
    let mut files = Vec::new();
    collect_rs_files(&root, &mut files);
    assert!(
        files.iter().any(|file| file.ends_with("xtask/src/tidy.rs")),
        "the walk from {} did not find xtask/src/tidy.rs, so it is not searching the repository",
        root.display()
    );
    let problems: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let shown = file
                .strip_prefix(&root)
                .unwrap_or(file)
                .display()
                .to_string();
            match fs::read_to_string(file) {
                Ok(text) => check_doc_header(&shown, &text),
                Err(err) => Some(format!("{shown}: could not read it as UTF-8 text: {err}")),
            }
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn ci_run_calls_only_cargo_xtask_ci() {
    let path = project_root().join(".ci/run");
    let text = fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "could not read {}: {err}; CI runs `.ci/run`, which must contain `exec cargo xtask ci`",
            path.display()
        )
    });
    let mut problems = check_ci_run(&text);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let executable =
            fs::metadata(&path).is_ok_and(|meta| meta.permissions().mode() & 0o111 != 0);
        if !executable {
            problems.push(
                ".ci/run is not executable: run `chmod +x .ci/run` (git keeps the mode bit) and commit it"
                    .to_owned(),
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Appends every `.rs` file under `dir`, skipping `SKIPPED_DIRS` and symlinks.
fn collect_rs_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|err| panic!("could not list {}: {err}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|err| panic!("could not list {}: {err}", dir.display()));
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if !SKIPPED_DIRS
                .iter()
                .any(|skipped| entry.file_name() == *skipped)
            {
                collect_rs_files(&path, files);
            }
        } else if file_type.is_file() && path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// A problem with `text`, the contents of the file `shown`, if its first line is not a `//!` comment.
fn check_doc_header(shown: &str, text: &str) -> Option<String> {
    if text.starts_with("//!") {
        return None;
    }
    let first = text.lines().next().unwrap_or("");
    let found = if first.trim().is_empty() {
        "an empty line".to_owned()
    } else {
        format!("`{first}`")
    };
    Some(format!(
        "{shown}: line 1 is {found}, but every .rs file must start with a `//!` line saying what the file is \
         (STYLE.md, \"Docs and comments\"): add e.g. `//! <what this file is, in one sentence>` as line 1"
    ))
}

/// Problems with `.ci/run`'s text: it may hold a shebang, comments, `set` and `cd` lines, and exactly
/// one command, `cargo xtask ci` (optionally `exec`ed).
fn check_ci_run(text: &str) -> Vec<String> {
    const FIX: &str = "CI must run exactly `cargo xtask ci` so that a local `cargo xtask ci` checks the same \
                       things: put new checks in a step of xtask/src/ci.rs instead";
    let mut problems = Vec::new();
    if !text.starts_with("#!") {
        problems.push(".ci/run line 1 is not a shebang: make it `#!/usr/bin/env bash`".to_owned());
    }
    let mut runs_xtask_ci = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        let allowed = line.is_empty()
            || line.starts_with('#')
            || line.starts_with("set ")
            || line.starts_with("cd ");
        if allowed {
            continue;
        }
        if line == "cargo xtask ci" || line == "exec cargo xtask ci" {
            runs_xtask_ci += 1;
        } else {
            problems.push(format!(".ci/run line {} runs `{line}`: {FIX}", index + 1));
        }
    }
    match runs_xtask_ci {
        0 => problems.push(format!(
            ".ci/run never runs `cargo xtask ci`: end it with `exec cargo xtask ci`; {FIX}"
        )),
        1 => {}
        n => problems.push(format!(
            ".ci/run runs `cargo xtask ci` {n} times: keep one `exec cargo xtask ci`"
        )),
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_header_check_accepts_inner_doc_comments_only() {
        assert_eq!(
            check_doc_header("a.rs", "//! What this is.\nfn main() {}\n"),
            None
        );
        let outer = check_doc_header("crates/x/src/a.rs", "/// Not a module doc.\n")
            .expect("`///` is rejected");
        assert!(
            outer.contains("crates/x/src/a.rs: line 1 is `/// Not a module doc.`"),
            "{outer}"
        );
        let blank =
            check_doc_header("b.rs", "\n//! Too late.\n").expect("a blank line 1 is rejected");
        assert!(blank.contains("line 1 is an empty line"), "{blank}");
        assert!(
            check_doc_header("c.rs", "").is_some(),
            "an empty file is rejected"
        );
    }

    #[test]
    fn ci_run_check_accepts_the_canonical_script() {
        let script = "#!/usr/bin/env bash\nset -euo pipefail\ncd \"$(dirname \"$0\")/..\"\nexec cargo xtask ci\n";
        assert_eq!(check_ci_run(script), Vec::<String>::new());
    }

    #[test]
    fn ci_run_check_rejects_extra_or_missing_commands() {
        let extra = check_ci_run("#!/usr/bin/env bash\nset -e\ncargo test\nexec cargo xtask ci\n");
        assert_eq!(extra.len(), 1, "{extra:?}");
        assert!(
            extra[0].starts_with(".ci/run line 3 runs `cargo test`"),
            "{extra:?}"
        );

        let missing = check_ci_run("#!/bin/sh\nset -e\n");
        assert!(
            missing
                .iter()
                .any(|p| p.contains("never runs `cargo xtask ci`")),
            "{missing:?}"
        );

        let twice = check_ci_run("#!/bin/sh\ncargo xtask ci\ncargo xtask ci\n");
        assert!(twice.iter().any(|p| p.contains("2 times")), "{twice:?}");

        let no_shebang = check_ci_run("exec cargo xtask ci\n");
        assert!(
            no_shebang.iter().any(|p| p.contains("not a shebang")),
            "{no_shebang:?}"
        );
    }
}
