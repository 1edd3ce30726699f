//! `os.environ/NAME` values: LiteLLM's way of reading a setting from the environment.
//!
//! The lookup is a parameter (`Fn(&str) -> Option<String>`) so tests never touch the
//! process environment; [`process_env`] is the real one.

/// The prefix that marks a value as "read this environment variable".
pub const ENV_PREFIX: &str = "os.environ/";

/// Reads a variable from the process environment. A variable that is set but not valid
/// UTF-8 counts as unset: a secret or URL with invalid bytes could not be sent anyway.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).and_then(|value| value.into_string().ok())
}

/// The variable named by an `os.environ/NAME` value, or `None` for an ordinary value.
/// Surrounding whitespace in the name is ignored (`os.environ/ KEY` is a common slip).
pub(crate) fn reference(value: &str) -> Option<&str> {
    value.strip_prefix(ENV_PREFIX).map(str::trim)
}

/// Whether `name` is a plausible environment variable name, so a typo such as
/// `os.environ/` with nothing after it is reported as such.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            reference("os.environ/OPENAI_API_KEY"),
            Some("OPENAI_API_KEY")
        );
        assert_eq!(reference("os.environ/ KEY "), Some("KEY"));
        assert_eq!(reference("sk-123"), None);
        assert!(is_valid_name("AZURE_API_KEY_2"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("2KEY"));
        assert!(!is_valid_name("MY-KEY"));
    }
}
