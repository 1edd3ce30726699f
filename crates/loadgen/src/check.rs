//! The soak's answer checks: every answer is the expected text or an error in OpenAI's shape.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Statuses a failed request may end with after injected upstream failures: rate limits
/// (deployments cooling), upstream server errors and timeouts. Anything else (400, 401, 404)
/// would be the proxy's own mistake.
const ALLOWED_ERROR_STATUSES: [u16; 5] = [429, 500, 502, 503, 504];

/// How many wrong answers are kept as examples.
const EXAMPLES: usize = 5;

/// Checks answers against the text the upstream sends.
pub(crate) struct Checker {
    prefix: String,
}

/// What an answer was.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// A 200 with the expected text (plain, or a complete stream ending in `[DONE]`).
    Answer,
    /// An error status with an OpenAI error body.
    Error,
    /// A 200 stream that ended in an OpenAI error event after content had been sent.
    StreamError,
    /// Anything else, with what is wrong.
    Bad(String),
}

impl Checker {
    pub(crate) fn new(prefix: String) -> Self {
        Checker { prefix }
    }

    pub(crate) fn check(&self, status: u16, streamed: bool, body: &[u8]) -> Verdict {
        if status != 200 {
            if !ALLOWED_ERROR_STATUSES.contains(&status) {
                return Verdict::Bad(format!(
                    "status {status} is not one an upstream failure may cause"
                ));
            }
            return match serde_json::from_slice::<Value>(body) {
                Ok(v) if is_openai_error(&v) => Verdict::Error,
                Ok(_) => Verdict::Bad(format!("status {status} without an OpenAI error body")),
                Err(e) => {
                    Verdict::Bad(format!("status {status} with a body that is not JSON: {e}"))
                }
            };
        }
        if streamed {
            self.check_stream(body)
        } else {
            self.check_plain(body)
        }
    }

    fn check_plain(&self, body: &[u8]) -> Verdict {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return Verdict::Bad("a 200 whose body is not JSON".to_owned());
        };
        match v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
        {
            Some(text) if text.starts_with(&self.prefix) => Verdict::Answer,
            Some(text) => Verdict::Bad(format!("a 200 with the wrong text `{text}`")),
            None => Verdict::Bad("a 200 that is not a chat completion".to_owned()),
        }
    }

    fn check_stream(&self, body: &[u8]) -> Verdict {
        let Ok(text) = std::str::from_utf8(body) else {
            return Verdict::Bad("a stream that is not UTF-8".to_owned());
        };
        let mut content = String::new();
        let mut done = false;
        for line in text.lines() {
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if done {
                return Verdict::Bad("data after `[DONE]`".to_owned());
            }
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let Ok(event) = serde_json::from_str::<Value>(data) else {
                return Verdict::Bad(format!("an event that is not JSON: `{data}`"));
            };
            if is_openai_error(&event) {
                // An error event ends the stream: nothing may follow it.
                let rest = text.split_once(data).map_or("", |(_, rest)| rest);
                return if rest.contains("data:") {
                    Verdict::Bad("events after an error event".to_owned())
                } else {
                    Verdict::StreamError
                };
            }
            if event.get("object").and_then(Value::as_str) != Some("chat.completion.chunk") {
                return Verdict::Bad(format!("an event that is not a chunk: `{data}`"));
            }
            if let Some(piece) = event
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
            {
                content.push_str(piece);
            }
        }
        if !done {
            return Verdict::Bad(
                "a stream that ended without `[DONE]` or an error event".to_owned(),
            );
        }
        if content.starts_with(&self.prefix) {
            Verdict::Answer
        } else {
            Verdict::Bad(format!("a stream with the wrong text `{content}`"))
        }
    }
}

/// `{"error": {"message": "...", "type": "...", "param": ..., "code": ...}}`.
fn is_openai_error(v: &Value) -> bool {
    let Some(e) = v.get("error").and_then(Value::as_object) else {
        return false;
    };
    e.get("message").is_some_and(Value::is_string)
        && e.get("type").is_some_and(Value::is_string)
        && e.contains_key("param")
        && e.contains_key("code")
}

/// Counts of verdicts, with a few examples of wrong answers.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) answers: u64,
    pub(crate) stream_answers: u64,
    pub(crate) errors_by_status: BTreeMap<u16, u64>,
    pub(crate) stream_errors: u64,
    pub(crate) bad: u64,
    pub(crate) examples: Vec<String>,
}

impl Tally {
    pub(crate) fn add(&mut self, verdict: &Verdict, status: u16, streamed: bool, body: &[u8]) {
        match verdict {
            Verdict::Answer if streamed => self.stream_answers += 1,
            Verdict::Answer => self.answers += 1,
            Verdict::Error => *self.errors_by_status.entry(status).or_default() += 1,
            Verdict::StreamError => self.stream_errors += 1,
            Verdict::Bad(why) => {
                self.bad += 1;
                if self.examples.len() < EXAMPLES {
                    let head: String = String::from_utf8_lossy(body).chars().take(300).collect();
                    self.examples.push(format!(
                        "{why} (status {status}, stream {streamed}): {head}"
                    ));
                }
            }
        }
    }

    /// Answers that passed their check.
    pub(crate) fn ok(&self) -> u64 {
        self.answers
            + self.stream_answers
            + self.stream_errors
            + self.errors_by_status.values().sum::<u64>()
    }

    pub(crate) fn merge(&mut self, other: Tally) {
        self.answers += other.answers;
        self.stream_answers += other.stream_answers;
        for (status, n) in other.errors_by_status {
            *self.errors_by_status.entry(status).or_default() += n;
        }
        self.stream_errors += other.stream_errors;
        self.bad += other.bad;
        for e in other.examples {
            if self.examples.len() < EXAMPLES {
                self.examples.push(e);
            }
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let errors: BTreeMap<String, u64> = self
            .errors_by_status
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
        json!({
            "answers": self.answers,
            "stream_answers": self.stream_answers,
            "errors_by_status": errors,
            "stream_errors": self.stream_errors,
            "wrong": self.bad,
            "wrong_examples": self.examples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker() -> Checker {
        Checker::new("mock answer from ".to_owned())
    }

    #[test]
    fn plain_answers_and_errors() {
        let c = checker();
        let ok =
            br#"{"choices":[{"message":{"role":"assistant","content":"mock answer from a"}}]}"#;
        assert_eq!(c.check(200, false, ok), Verdict::Answer);
        let wrong = br#"{"choices":[{"message":{"content":"hello"}}]}"#;
        assert!(matches!(c.check(200, false, wrong), Verdict::Bad(_)));
        let err = br#"{"error":{"message":"m","type":"server_error","param":null,"code":"x"}}"#;
        assert_eq!(c.check(503, false, err), Verdict::Error);
        assert!(
            matches!(c.check(404, false, err), Verdict::Bad(_)),
            "a 404 is our mistake"
        );
        assert!(matches!(
            c.check(500, false, br#"{"error":"x"}"#),
            Verdict::Bad(_)
        ));
        assert!(matches!(c.check(500, false, b"<html>"), Verdict::Bad(_)));
    }

    #[test]
    fn streams_must_end_in_done_or_an_error_event() {
        let c = checker();
        let chunk = |text: &str| {
            format!(
                "data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n"
            )
        };
        let good = format!(
            "{}{}data: [DONE]\n\n",
            chunk("mock answer "),
            chunk("from a")
        );
        assert_eq!(c.check(200, true, good.as_bytes()), Verdict::Answer);
        let cut = format!("{}{}", chunk("mock answer "), chunk("from a"));
        assert!(matches!(
            c.check(200, true, cut.as_bytes()),
            Verdict::Bad(_)
        ));
        let errored = format!(
            "{}data: {{\"error\":{{\"message\":\"m\",\"type\":\"server_error\",\"param\":null,\"code\":\"c\"}}}}\n\n",
            chunk("mock")
        );
        assert_eq!(c.check(200, true, errored.as_bytes()), Verdict::StreamError);
        let after = format!("{errored}data: [DONE]\n\n");
        assert!(matches!(
            c.check(200, true, after.as_bytes()),
            Verdict::Bad(_)
        ));
        let wrong = format!("{}data: [DONE]\n\n", chunk("hello"));
        assert!(matches!(
            c.check(200, true, wrong.as_bytes()),
            Verdict::Bad(_)
        ));
    }

    #[test]
    fn the_tally_counts_and_keeps_examples() {
        let mut t = Tally::default();
        t.add(&Verdict::Answer, 200, false, b"");
        t.add(&Verdict::Error, 503, false, b"");
        t.add(&Verdict::Bad("x".into()), 404, false, b"nope");
        assert_eq!(t.ok(), 2);
        assert_eq!(t.bad, 1);
        assert!(t.examples[0].contains("nope"));
    }
}
