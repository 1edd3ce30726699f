//! Retry hints: how long the upstream asked us to wait, read from its headers.
//!
//! Headers come in as `(name, value)` pairs so this crate needs no `http` types;
//! `now` is passed in so parsing dates needs no clock. Every parser rejects garbage
//! (negative, non-numeric, overflowing values) by returning `None`: a bad hint is
//! no hint, never a panic or a wait of centuries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest hint we accept from any header; anything longer is treated as this.
/// (A week: long enough to mean "not soon", short enough never to overflow arithmetic.)
pub const MAX_HINT: Duration = Duration::from_secs(7 * 24 * 3600);

/// What an upstream said about retrying.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryHint {
    /// How long to wait before trying this deployment again, if the upstream said.
    pub after: Option<Duration>,
    /// `x-should-retry: true|false`, which overrides whether the kind is retried by default.
    pub should_retry: Option<bool>,
}

impl RetryHint {
    /// A hint carrying only a wait.
    pub fn after(wait: Duration) -> Self {
        RetryHint {
            after: Some(wait.min(MAX_HINT)),
            should_retry: None,
        }
    }

    /// Combines two hints: the longer wait wins, an explicit `should_retry` is kept.
    pub fn merge(self, other: RetryHint) -> RetryHint {
        RetryHint {
            after: match (self.after, other.after) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            should_retry: self.should_retry.or(other.should_retry),
        }
    }
}

/// Reads every hint header we know from `(name, value)` pairs (names in any case).
///
/// Precedence: `retry-after-ms` and `retry-after` are explicit answers to "when may I
/// retry", so when either is present the larger of them is the hint. Otherwise the
/// rate-limit reset headers count: OpenAI's `x-ratelimit-reset-requests` /
/// `-tokens` and Anthropic's `anthropic-ratelimit-*-reset`, each only when its
/// matching `-remaining` header is `0` or absent (a reset for a limit that is not
/// exhausted says nothing about this failure); the largest relevant one wins.
pub fn parse_headers<'a, I>(headers: I, now: SystemTime) -> RetryHint
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut explicit: Option<Duration> = None;
    let mut should_retry = None;
    // Resets and whether their limit is exhausted, by limit name.
    let mut resets: [(Option<Duration>, Option<bool>); RESET_SLOTS] = [(None, None); RESET_SLOTS];

    for (name, value) in headers {
        let value = value.trim();
        let name_lc = LowerName(name);
        if name_lc.is("retry-after-ms") {
            explicit = max_opt(explicit, parse_retry_after_ms(value));
        } else if name_lc.is("retry-after") {
            explicit = max_opt(explicit, parse_retry_after(value, now));
        } else if name_lc.is("x-should-retry") {
            should_retry = match value {
                v if v.eq_ignore_ascii_case("true") => Some(true),
                v if v.eq_ignore_ascii_case("false") => Some(false),
                _ => should_retry,
            };
        } else if let Some(slot) = reset_slot(name) {
            let (reset, remaining) = &mut resets[slot.index];
            match slot.part {
                Part::Reset => {
                    let parsed = if slot.index < OPENAI_SLOTS {
                        parse_go_duration(value)
                    } else {
                        parse_rfc3339(value).map(|at| until(at, now))
                    };
                    *reset = max_opt(*reset, parsed);
                }
                Part::Remaining => *remaining = Some(value == "0"),
            }
        }
    }

    let after = explicit.or_else(|| {
        resets
            .iter()
            .filter(|(_, exhausted)| exhausted.unwrap_or(true))
            .filter_map(|(reset, _)| *reset)
            .max()
    });
    RetryHint {
        after: after.map(|d| d.min(MAX_HINT)),
        should_retry,
    }
}

/// `retry-after-ms: 1500`: milliseconds, fractional allowed.
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    parse_non_negative_f64(value).and_then(|ms| secs_f64(ms / 1000.0))
}

/// `retry-after`: seconds (integer or fractional) or an HTTP date.
///
/// A date in the past means "now" and gives a zero wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-' || c == '+') {
        return parse_non_negative_f64(value).and_then(secs_f64);
    }
    parse_http_date(value).map(|at| until(at, now))
}

/// Go-style durations as OpenAI sends them: `6m0s`, `1.5s`, `120ms`, `1h2m3.5s`, `20us`.
pub fn parse_go_duration(value: &str) -> Option<Duration> {
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    secs_f64(total)
}

/// Google's protobuf `Duration` JSON form, as in Gemini's `RetryInfo.retryDelay`: `"22s"`, `"1.5s"`.
pub fn parse_google_duration(value: &str) -> Option<Duration> {
    let number = value.trim().trim_matches('"').strip_suffix('s')?;
    parse_non_negative_f64(number).and_then(secs_f64)
}

/// RFC 3339 timestamps, as in Anthropic's `anthropic-ratelimit-requests-reset`:
/// `2024-05-01T12:00:30Z`, with optional fraction and a `Z` or `±hh:mm` offset.
pub fn parse_rfc3339(value: &str) -> Option<SystemTime> {
    let b = value.trim().as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let mut i = 19;
    let mut nanos = 0u64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &b[start..i];
        if frac.is_empty() {
            return None;
        }
        for (k, d) in frac.iter().take(9).enumerate() {
            nanos += u64::from(d - b'0') * 10u64.pow(8 - k as u32);
        }
    }
    let offset_secs: i64 = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let off = digits(&[*h1, *h2])? * 3600 + digits(&[*m1, *m2])? * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let secs = civil_to_unix(year, month, day, hour, minute, second)? - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, u32::try_from(nanos).ok()?))
}

/// HTTP dates (RFC 9110 IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    let mut parts = value.split_ascii_whitespace();
    let weekday = parts.next()?;
    if !weekday.ends_with(',') {
        return None;
    }
    let day = digits(parts.next()?.as_bytes())?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = digits(parts.next()?.as_bytes())?;
    let mut hms = parts.next()?.split(':');
    let hour = digits(hms.next()?.as_bytes())?;
    let minute = digits(hms.next()?.as_bytes())?;
    let second = digits(hms.next()?.as_bytes())?;
    if hms.next().is_some() || parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    let secs = u64::try_from(civil_to_unix(year, month, day, hour, minute, second)?).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// The time from `now` until `at`, zero if `at` has passed.
fn until(at: SystemTime, now: SystemTime) -> Duration {
    at.duration_since(now)
        .unwrap_or(Duration::ZERO)
        .min(MAX_HINT)
}

fn parse_non_negative_f64(value: &str) -> Option<f64> {
    let v: f64 = value.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

fn secs_f64(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(
        Duration::try_from_secs_f64(secs)
            .unwrap_or(MAX_HINT)
            .min(MAX_HINT),
    )
}

fn max_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

/// Seconds since the Unix epoch of a UTC civil time (Howard Hinnant's algorithm).
fn civil_to_unix(year: i64, month: i64, day: i64, hour: i64, min: i64, sec: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Header names compared without allocating.
struct LowerName<'a>(&'a str);

impl LowerName<'_> {
    fn is(&self, lower: &str) -> bool {
        self.0.eq_ignore_ascii_case(lower)
    }
}

const OPENAI_SLOTS: usize = 2;
const RESET_SLOTS: usize = 6;

enum Part {
    Reset,
    Remaining,
}

struct Slot {
    index: usize,
    part: Part,
}

/// Maps a rate-limit header to its limit slot: OpenAI requests/tokens (Go durations),
/// then Anthropic requests/tokens/input-tokens/output-tokens (RFC 3339 timestamps).
fn reset_slot(name: &str) -> Option<Slot> {
    const LIMITS: [(&str, &str); RESET_SLOTS] = [
        (
            "x-ratelimit-reset-requests",
            "x-ratelimit-remaining-requests",
        ),
        ("x-ratelimit-reset-tokens", "x-ratelimit-remaining-tokens"),
        (
            "anthropic-ratelimit-requests-reset",
            "anthropic-ratelimit-requests-remaining",
        ),
        (
            "anthropic-ratelimit-tokens-reset",
            "anthropic-ratelimit-tokens-remaining",
        ),
        (
            "anthropic-ratelimit-input-tokens-reset",
            "anthropic-ratelimit-input-tokens-remaining",
        ),
        (
            "anthropic-ratelimit-output-tokens-reset",
            "anthropic-ratelimit-output-tokens-remaining",
        ),
    ];
    LIMITS
        .iter()
        .enumerate()
        .find_map(|(index, (reset, remaining))| {
            if name.eq_ignore_ascii_case(reset) {
                Some(Slot {
                    index,
                    part: Part::Reset,
                })
            } else if name.eq_ignore_ascii_case(remaining) {
                Some(Slot {
                    index,
                    part: Part::Remaining,
                })
            } else {
                None
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        // 2024-05-01T12:00:00Z
        UNIX_EPOCH + Duration::from_secs(1_714_564_800)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn retry_after_seconds_and_fractions() {
        assert_eq!(parse_retry_after("5", now()), Some(ms(5000)));
        assert_eq!(parse_retry_after("1.5", now()), Some(ms(1500)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-3", now()), None);
        assert_eq!(parse_retry_after("abc", now()), None);
        assert_eq!(parse_retry_after("NaN", now()), None);
        assert_eq!(parse_retry_after("inf", now()), None);
        assert_eq!(parse_retry_after("", now()), None);
        assert_eq!(
            parse_retry_after("1e400", now()),
            None,
            "overflowing float parses to inf"
        );
        assert_eq!(
            parse_retry_after("99999999999999999999", now()),
            Some(MAX_HINT)
        );
    }

    #[test]
    fn retry_after_http_date() {
        assert_eq!(
            parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now()),
            Some(ms(30_000))
        );
        assert_eq!(
            parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now()),
            Some(Duration::ZERO),
            "past date"
        );
        assert_eq!(
            parse_retry_after("Wed, 01 Foo 2024 11:00:00 GMT", now()),
            None
        );
        assert_eq!(
            parse_retry_after("Wed, 01 May 2024 25:00:00 GMT", now()),
            None
        );
        assert_eq!(
            parse_retry_after("Wed, 01 May 2024 12:00:30 PST", now()),
            None
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
    }

    #[test]
    fn retry_after_ms() {
        assert_eq!(parse_retry_after_ms("250"), Some(ms(250)));
        assert_eq!(
            parse_retry_after_ms("0.5"),
            Some(Duration::from_micros(500))
        );
        assert_eq!(parse_retry_after_ms("-1"), None);
        assert_eq!(parse_retry_after_ms("soon"), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("1.5s"), Some(ms(1500)));
        assert_eq!(parse_go_duration("120ms"), Some(ms(120)));
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("20us"), Some(Duration::from_micros(20)));
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("5"), None, "a unit is required");
        assert_eq!(parse_go_duration("-5s"), None);
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration("99999999999999h"), Some(MAX_HINT));
    }

    #[test]
    fn google_durations() {
        assert_eq!(parse_google_duration("22s"), Some(Duration::from_secs(22)));
        assert_eq!(parse_google_duration("\"1.5s\""), Some(ms(1500)));
        assert_eq!(parse_google_duration("22"), None);
        assert_eq!(parse_google_duration("-1s"), None);
    }

    #[test]
    fn rfc3339() {
        let t = |s| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).ok());
        assert_eq!(
            t("2024-05-01T12:00:30Z"),
            Some(Some(Duration::from_secs(1_714_564_830)))
        );
        assert_eq!(
            t("2024-05-01T12:00:30.250Z"),
            Some(Some(Duration::from_millis(1_714_564_830_250)))
        );
        assert_eq!(
            t("2024-05-01T14:00:30+02:00"),
            Some(Some(Duration::from_secs(1_714_564_830)))
        );
        assert_eq!(t("2024-13-01T12:00:30Z"), None);
        assert_eq!(t("2024-05-01T12:00:30"), None, "an offset is required");
        assert_eq!(t("yesterday"), None);
        assert_eq!(t("1960-01-01T00:00:00Z"), None, "before the epoch");
    }

    #[test]
    fn header_precedence() {
        let h =
            |pairs: &[(&'static str, &'static str)]| parse_headers(pairs.iter().copied(), now());
        assert_eq!(
            h(&[("Retry-After", "2"), ("retry-after-ms", "2500")]).after,
            Some(ms(2500))
        );
        assert_eq!(
            h(&[("retry-after", "1"), ("x-ratelimit-reset-requests", "6m0s")]).after,
            Some(ms(1000)),
            "an explicit retry-after beats reset headers"
        );
        assert_eq!(
            h(&[
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "6m0s")
            ])
            .after,
            Some(Duration::from_secs(360)),
            "largest reset wins when no remaining header is present"
        );
        assert_eq!(
            h(&[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-remaining-tokens", "5000"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ])
            .after,
            Some(ms(1000)),
            "only the exhausted limit's reset is relevant"
        );
        assert_eq!(
            h(&[("anthropic-ratelimit-requests-reset", "2024-05-01T12:00:10Z")]).after,
            Some(Duration::from_secs(10))
        );
        assert_eq!(h(&[("retry-after", "garbage")]).after, None);
        assert_eq!(h(&[("x-should-retry", "false")]).should_retry, Some(false));
        assert_eq!(h(&[("X-Should-Retry", "TRUE")]).should_retry, Some(true));
        assert_eq!(h(&[("x-should-retry", "maybe")]).should_retry, None);
        assert_eq!(h(&[]), RetryHint::default());
    }

    #[test]
    fn merge_keeps_longest() {
        let a = RetryHint::after(ms(10));
        let b = RetryHint {
            after: Some(ms(20)),
            should_retry: Some(false),
        };
        assert_eq!(
            a.merge(b),
            RetryHint {
                after: Some(ms(20)),
                should_retry: Some(false)
            }
        );
    }
}
