//! Reading typed values out of the YAML tree: key checks, scalars, durations, `os.environ/`.
//!
//! Every reader takes the key path and node, and on a bad value records a [`Problem`]
//! and returns `None`, so one pass over the file finds every problem.

use std::time::Duration;

use super::{
    env,
    error::{Problem, ProblemKind},
    keys::Section,
    raw::{Entry, Node, Pos, Value},
    suggest,
    types::{Secret, SecretSource},
};

/// What the decoding has found so far: problems, ignored LiteLLM keys and warnings.
pub(crate) struct Ctx<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    pub(crate) problems: Vec<Problem>,
    /// LiteLLM keys we ignore: path and line, reported together in one warning.
    pub(crate) unsupported: Vec<(String, Pos)>,
    pub(crate) warnings: Vec<String>,
}

/// A value found under a key, with the path that names it.
#[derive(Clone, Copy)]
pub(crate) struct Field<'n, 'p> {
    pub(crate) node: &'n Node,
    pub(crate) path: &'p str,
}

/// A string and the variable it was read from, if it was an `os.environ/` value.
pub(crate) struct Text {
    pub(crate) value: String,
    pub(crate) var: Option<String>,
}

impl Text {
    /// " (from environment variable X)" when read from one, for messages about the value.
    fn origin(&self) -> String {
        self.var
            .as_ref()
            .map(|v| format!(" (from environment variable `{v}`)"))
            .unwrap_or_default()
    }
}

impl<'e> Ctx<'e> {
    pub(crate) fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Ctx {
            env,
            problems: Vec::new(),
            unsupported: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records a problem at `pos`.
    pub(crate) fn problem(
        &mut self,
        pos: Pos,
        path: &str,
        kind: ProblemKind,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            path: path.to_owned(),
            line: pos.line,
            column: pos.column,
            kind,
            message: message.into(),
        });
    }

    /// Records a problem about the value of `f`.
    pub(crate) fn invalid(&mut self, f: Field<'_, '_>, message: impl Into<String>) {
        self.problem(f.node.pos, f.path, ProblemKind::InvalidValue, message);
    }

    fn wrong_type(&mut self, f: Field<'_, '_>, expected: &'static str, fix: &str) {
        let found = match &f.node.value {
            Value::Str(s) => format!("the string \"{}\"", shorten(s)),
            Value::Int(i) => format!("the integer {i}"),
            Value::Float(x) => format!("the number {x}"),
            Value::Bool(b) => format!("the boolean {b}"),
            other => other.describe().to_owned(),
        };
        self.problem(
            f.node.pos,
            f.path,
            ProblemKind::WrongType { expected },
            format!("expected {expected}, found {found}; {fix}"),
        );
    }

    /// The value of the environment variable `var`, read through the pluggable lookup.
    pub(crate) fn env_var(&self, var: &str) -> Option<String> {
        (self.env)(var)
    }

    /// The entries of a mapping, with key checks. `null` (an empty section) is an empty mapping.
    pub(crate) fn fields<'n>(
        &mut self,
        f: Field<'n, '_>,
        section: &'static Section,
    ) -> Option<Fields<'n>> {
        let entries: &'n [Entry] = match &f.node.value {
            Value::Map(entries) => entries,
            Value::Null => &[],
            _ => {
                self.wrong_type(
                    f,
                    "a mapping",
                    &format!(
                        "write {} as `key: value` lines indented under it",
                        section.name
                    ),
                );
                return None;
            }
        };
        Some(Fields {
            path: f.path.to_owned(),
            pos: f.node.pos,
            entries,
            used: vec![false; entries.len()],
            section,
        })
    }

    /// A string; `os.environ/NAME` is replaced by the variable's value. Integers are
    /// taken as their digits; other types are errors.
    pub(crate) fn text(&mut self, f: Field<'_, '_>) -> Option<Text> {
        match &f.node.value {
            Value::Str(s) => match env::reference(s) {
                Some(var) => self.resolve_env(f, var).map(|value| Text {
                    value,
                    var: Some(var.to_owned()),
                }),
                None => Some(Text {
                    value: s.clone(),
                    var: None,
                }),
            },
            Value::Int(i) => Some(Text {
                value: i.to_string(),
                var: None,
            }),
            _ => {
                self.wrong_type(f, "a string", "put the value in quotes");
                None
            }
        }
    }

    fn resolve_env(&mut self, f: Field<'_, '_>, var: &str) -> Option<String> {
        if !env::is_valid_name(var) {
            self.invalid(
                f,
                format!(
                    "`{}{var}` does not name an environment variable; write `{}NAME` with NAME made of letters, digits and `_`",
                    env::ENV_PREFIX,
                    env::ENV_PREFIX
                ),
            );
            return None;
        }
        let value = self.env_var(var);
        if value.is_none() {
            self.problem(
                f.node.pos,
                f.path,
                ProblemKind::MissingEnvVar {
                    var: var.to_owned(),
                },
                format!(
                    "environment variable `{var}` is not set (the value is `{}{var}`); export it before starting switchyard, or write the value itself",
                    env::ENV_PREFIX
                ),
            );
        }
        value
    }

    /// A string that must not be empty.
    pub(crate) fn string(&mut self, f: Field<'_, '_>) -> Option<String> {
        let text = self.text(f)?;
        if text.value.trim().is_empty() {
            self.invalid(
                f,
                format!("is empty{}; write a value or remove the key", text.origin()),
            );
            return None;
        }
        Some(text.value)
    }

    /// A secret: a non-empty string, remembered with where it came from.
    pub(crate) fn secret(&mut self, f: Field<'_, '_>) -> Option<Secret> {
        let text = self.text(f)?;
        if text.value.trim().is_empty() {
            self.invalid(
                f,
                format!("is empty{}; write a value or remove the key", text.origin()),
            );
            return None;
        }
        let source = match text.var {
            Some(var) => SecretSource::Environment { var },
            None => SecretSource::Inline,
        };
        Some(Secret::new(text.value, source))
    }

    /// A whole number in `0..=max`. Quoted digits and `os.environ/` values are accepted.
    pub(crate) fn uint(&mut self, f: Field<'_, '_>, max: u64) -> Option<u64> {
        const EXPECTED: &str = "a whole number";
        let (value, origin) = match &f.node.value {
            Value::Int(i) => (Some(*i), String::new()),
            Value::Float(x) if x.fract() == 0.0 && x.is_finite() => {
                let i = *x as i128;
                (Some(i), String::new())
            }
            Value::Str(_) => {
                let text = self.text(f)?;
                (text.value.trim().parse::<i128>().ok(), text.origin())
            }
            _ => (None, String::new()),
        };
        let Some(value) = value else {
            self.wrong_type(f, EXPECTED, "write digits only, such as `3`");
            return None;
        };
        if value < 0 {
            self.invalid(
                f,
                format!("is {value}{origin}, but it must not be negative; write 0 or more"),
            );
            return None;
        }
        match u64::try_from(value) {
            Ok(v) if v <= max => Some(v),
            _ => {
                self.invalid(
                    f,
                    format!("is {value}{origin}, more than the largest allowed, {max}; write a smaller number"),
                );
                None
            }
        }
    }

    /// A `u32` count.
    pub(crate) fn u32(&mut self, f: Field<'_, '_>) -> Option<u32> {
        self.uint(f, u64::from(u32::MAX))
            .and_then(|v| u32::try_from(v).ok())
    }

    /// A finite number that is not negative.
    pub(crate) fn non_negative(&mut self, f: Field<'_, '_>) -> Option<f64> {
        let (value, origin) = match &f.node.value {
            Value::Int(i) => (Some(*i as f64), String::new()),
            Value::Float(x) => (Some(*x), String::new()),
            Value::Str(_) => {
                let text = self.text(f)?;
                (text.value.trim().parse::<f64>().ok(), text.origin())
            }
            _ => (None, String::new()),
        };
        let Some(value) = value else {
            self.wrong_type(f, "a number", "write a number such as `1` or `0.5`");
            return None;
        };
        if !value.is_finite() {
            self.invalid(f, format!("is {value}{origin}; write a finite number"));
            return None;
        }
        if value < 0.0 {
            self.invalid(
                f,
                format!("is {value}{origin}, but it must not be negative; write 0 or more"),
            );
            return None;
        }
        Some(value)
    }

    /// A boolean. Besides `true`/`false`, the YAML 1.1 words LiteLLM's parser takes as
    /// booleans are accepted: `yes`/`no`/`on`/`off`.
    pub(crate) fn boolean(&mut self, f: Field<'_, '_>) -> Option<bool> {
        if let Value::Bool(b) = f.node.value {
            return Some(b);
        }
        if let Value::Str(_) = f.node.value {
            let text = self.text(f)?;
            match text.value.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => return Some(true),
                "false" | "no" | "off" => return Some(false),
                _ => {}
            }
        }
        self.wrong_type(f, "true or false", "write `true` or `false`");
        None
    }

    /// A duration: a number of seconds (`30`, `0.5`, LiteLLM's form) or a humantime
    /// string (`"250ms"`, `"1m 30s"`). Negative, NaN and infinite values are errors.
    pub(crate) fn duration(&mut self, f: Field<'_, '_>) -> Option<Duration> {
        const EXPECTED: &str = "a duration";
        const FIX: &str = "write a number of seconds (`30`, `0.5`) or a duration string such as \"250ms\" or \"1m 30s\"";
        let seconds = |ctx: &mut Self, secs: f64, origin: &str| {
            if secs.is_nan() {
                ctx.invalid(f, format!("is NaN{origin}; {FIX}"));
                return None;
            }
            if secs < 0.0 {
                ctx.invalid(
                    f,
                    format!(
                        "is {secs} seconds{origin}, but a duration must not be negative; {FIX}"
                    ),
                );
                return None;
            }
            match Duration::try_from_secs_f64(secs) {
                Ok(d) => Some(d),
                Err(_) => {
                    ctx.invalid(
                        f,
                        format!("is {secs} seconds{origin}, which is too long; {FIX}"),
                    );
                    None
                }
            }
        };
        match &f.node.value {
            Value::Int(i) => seconds(self, *i as f64, ""),
            Value::Float(x) => seconds(self, *x, ""),
            Value::Str(_) => {
                let text = self.text(f)?;
                let trimmed = text.value.trim();
                if let Ok(secs) = trimmed.parse::<f64>() {
                    return seconds(self, secs, &text.origin());
                }
                if trimmed.starts_with('-') {
                    self.invalid(
                        f,
                        format!(
                            "is \"{}\"{}, but a duration must not be negative; {FIX}",
                            shorten(trimmed),
                            text.origin()
                        ),
                    );
                    return None;
                }
                match humantime::parse_duration(trimmed) {
                    Ok(d) => Some(d),
                    Err(err) => {
                        self.problem(
                            f.node.pos,
                            f.path,
                            ProblemKind::WrongType { expected: EXPECTED },
                            format!(
                                "\"{}\"{} is not a duration ({err}); {FIX}",
                                shorten(trimmed),
                                text.origin()
                            ),
                        );
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(f, EXPECTED, FIX);
                None
            }
        }
    }

    /// A list of non-empty strings; a single string is a list of one.
    pub(crate) fn string_list(&mut self, f: Field<'_, '_>) -> Option<Vec<(String, Pos)>> {
        match &f.node.value {
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    let path = index(f.path, i);
                    match self.string(Field {
                        node: item,
                        path: &path,
                    }) {
                        Some(s) => out.push((s, item.pos)),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            Value::Str(_) => self.string(f).map(|s| vec![(s, f.node.pos)]),
            _ => {
                self.wrong_type(
                    f,
                    "a list of strings",
                    "write a list such as `[\"a\", \"b\"]`",
                );
                None
            }
        }
    }

    /// A value from a fixed set of words (a value may have several names), with a
    /// suggestion for near misses.
    pub(crate) fn one_of<T: Copy>(
        &mut self,
        f: Field<'_, '_>,
        choices: &[(T, &'static str)],
    ) -> Option<T> {
        let text = self.text(f)?;
        let word = text.value.trim();
        if let Some((value, _)) = choices.iter().find(|(_, name)| *name == word) {
            return Some(*value);
        }
        let all: Vec<&str> = choices.iter().map(|(_, name)| *name).collect();
        let hint = match suggest::closest(word, all.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? "),
            None => String::new(),
        };
        self.invalid(
            f,
            format!(
                "\"{}\"{} is not one of the accepted values; {hint}write one of: {}",
                shorten(word),
                text.origin(),
                all.join(", ")
            ),
        );
        None
    }
}

/// The entries of one mapping being read. Keys asked for with [`Fields::get`] are
/// "used"; [`Fields::finish`] reports the rest as unknown (an error with a suggestion)
/// or as ignored LiteLLM settings (one warning for the whole file).
pub(crate) struct Fields<'n> {
    pub(crate) path: String,
    pub(crate) pos: Pos,
    entries: &'n [Entry],
    used: Vec<bool>,
    section: &'static Section,
}

/// A value found in a [`Fields`], with its full path.
pub(crate) struct Got<'n> {
    pub(crate) node: &'n Node,
    pub(crate) key_pos: Pos,
    pub(crate) path: String,
}

impl<'n> Got<'n> {
    /// The value as a [`Field`] for the scalar readers.
    pub(crate) fn field(&self) -> Field<'n, '_> {
        Field {
            node: self.node,
            path: &self.path,
        }
    }
}

impl<'n> Fields<'n> {
    /// The value of `key`, unless absent or `null` (LiteLLM treats `null` as unset).
    pub(crate) fn get(&mut self, key: &'static str) -> Option<Got<'n>> {
        debug_assert!(
            self.section.keys.contains(&key),
            "`{key}` is read from {} but not listed in keys.rs",
            self.section.name
        );
        let i = self.entries.iter().position(|e| e.key == key)?;
        self.used[i] = true;
        let entry = &self.entries[i];
        if entry.value.value == Value::Null {
            return None;
        }
        Some(Got {
            node: &entry.value,
            key_pos: entry.key_pos,
            path: join(&self.path, key),
        })
    }

    /// The value of `key`, or a "missing key" problem.
    pub(crate) fn required(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        fix: &str,
    ) -> Option<Got<'n>> {
        let got = self.get(key);
        if got.is_none() {
            let path = join(&self.path, key);
            ctx.problem(
                self.pos,
                &path,
                ProblemKind::MissingKey,
                format!("is required but missing; {fix}"),
            );
        }
        got
    }

    /// Reports every key not asked for: ignored LiteLLM keys go to the warning, others are errors.
    pub(crate) fn finish(self, ctx: &mut Ctx<'_>) {
        for (entry, used) in self.entries.iter().zip(self.used) {
            if used {
                continue;
            }
            let path = join(&self.path, &entry.key);
            if self.section.unsupported.contains(&entry.key.as_str()) {
                ctx.unsupported.push((path, entry.key_pos));
                continue;
            }
            let known = self
                .section
                .keys
                .iter()
                .chain(self.section.unsupported)
                .copied();
            let suggestion = suggest::closest(&entry.key, known).map(str::to_owned);
            let message = match &suggestion {
                Some(s) => format!("unknown key; did you mean `{s}`? Rename it, or remove it"),
                None => format!(
                    "unknown key in {}; the keys allowed here are: {}. Remove it, or see docs/configuration.md",
                    self.section.name,
                    self.section.keys.join(", ")
                ),
            };
            ctx.problem(
                entry.key_pos,
                &path,
                ProblemKind::UnknownKey { suggestion },
                message,
            );
        }
    }
}

/// `path.key`, or `key` at the top level.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[i]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A value cut to a length fit for a message.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    }
}
