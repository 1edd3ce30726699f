//! Errors from loading a config: every problem found, each with its key path, line and fix.

use std::{fmt, path::PathBuf};

/// Why a config could not be loaded.
///
/// [`ConfigError::Invalid`] carries every problem found in one pass, sorted by line, so
/// a user fixes all of them at once instead of one per restart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "could not read the config file {}: {source}; check the path and that the file is readable",
        path.display()
    )]
    Read {
        /// The file asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid config.
    #[error("{}", render(file.as_ref(), problems))]
    Invalid {
        /// The file, when the config came from one.
        file: Option<PathBuf>,
        /// Every problem found, sorted by line.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems of an invalid config; empty for a read error.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems, .. } => problems,
        }
    }
}

/// One thing wrong with a config, where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The key path, as in `model_list[2].litellm_params.model`; empty for the whole document.
    pub path: String,
    /// 1-based line in the file; 0 when unknown.
    pub line: u64,
    /// 1-based column in the file; 0 when unknown.
    pub column: u64,
    /// What kind of problem it is, for callers and tests that match on it.
    pub kind: ProblemKind,
    /// What is wrong and how to fix it, in plain words (no secrets).
    pub message: String,
}

/// The classes of config problems.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The text is not valid YAML (or repeats a key).
    Syntax,
    /// A key that neither Switchyard nor LiteLLM knows at this place.
    UnknownKey {
        /// The closest known key, if one is close enough to be a typo.
        suggestion: Option<String>,
    },
    /// A required key is absent.
    MissingKey,
    /// The value has the wrong type.
    WrongType {
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The value has the right type but is not allowed (negative, not a URL, out of range...).
    InvalidValue,
    /// An `os.environ/NAME` value names a variable that is not set.
    MissingEnvVar {
        /// The variable.
        var: String,
    },
    /// `litellm_params.model` names a provider Switchyard does not have.
    UnknownProvider {
        /// The provider prefix as written.
        provider: String,
        /// The closest supported provider, if it looks like a typo.
        suggestion: Option<String>,
    },
    /// A fallback, retry policy or key names a model group that has no deployment.
    UnknownGroup {
        /// The group as written.
        group: String,
        /// The closest configured group, if it looks like a typo.
        suggestion: Option<String>,
    },
    /// A model group lists itself as its own fallback.
    SelfFallback {
        /// The group.
        group: String,
    },
    /// Every deployment of a weighted group has weight 0.
    ZeroWeight {
        /// The group.
        group: String,
    },
    /// Two deployments have the same id.
    DuplicateId {
        /// The id.
        id: String,
    },
    /// Two settings that cannot be used together, or the same thing set twice.
    Conflict,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_problem(self, None, f)
    }
}

fn fmt_problem(p: &Problem, file: Option<&PathBuf>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match (file, p.line) {
        (Some(file), 0) => write!(f, "{}: ", file.display())?,
        (Some(file), line) => write!(f, "{}:{line}:{}: ", file.display(), p.column)?,
        (None, 0) => {}
        (None, line) => write!(f, "line {line}, column {}: ", p.column)?,
    }
    if !p.path.is_empty() {
        write!(f, "{}: ", p.path)?;
    }
    f.write_str(&p.message)
}

fn render(file: Option<&PathBuf>, problems: &[Problem]) -> String {
    struct One<'a>(&'a Problem, Option<&'a PathBuf>);
    impl fmt::Display for One<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt_problem(self.0, self.1, f)
        }
    }
    let name = file.map_or_else(|| "the config".to_owned(), |f| f.display().to_string());
    match problems {
        [] => format!("{name} is not valid"),
        [one] => One(one, file).to_string(),
        many => {
            let mut out = format!("{name} has {} problems:", many.len());
            for p in many {
                out.push_str("\n  - ");
                out.push_str(&One(p, file).to_string());
            }
            out
        }
    }
}
