//! Requests as an OpenAI-format upstream receives them: the client's request with the
//! deployment's model in place of the group name, written straight to JSON.
//!
//! A provider for any OpenAI-compatible server needs exactly this body. Writing it through
//! these views instead of a `serde_json::Value` (serialize, insert `model`, serialize again)
//! saves a copy of every key and string of the request.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::types::{ChatRequest, EmbeddingsRequest};

/// The keys the views write themselves; an `extra` entry with one of these names (possible
/// only when `extra` was filled by hand) is not written twice.
const OWN_KEYS: [&str; 3] = ["model", "stream", "stream_options"];

/// A [`ChatRequest`] as the body of an OpenAI-format chat completion call; see
/// [`ChatRequest::upstream_body`].
#[derive(Debug, Clone, Copy)]
pub struct UpstreamChatBody<'a> {
    request: &'a ChatRequest,
    model: &'a str,
    stream: bool,
}

impl ChatRequest {
    /// This request as the JSON body of an OpenAI-format call to `model`.
    ///
    /// `model` replaces the group name the client sent. With `stream` the body says
    /// `"stream": true` and keeps `stream_options`; without it both are left out (OpenAI
    /// rejects `stream_options` on a plain call). Every other field, `extra` included, is
    /// written as received.
    ///
    /// ```
    /// use switchyard_provider::{ChatRequest, Message};
    ///
    /// let request = ChatRequest::new("my-group", vec![Message::user("hi")]);
    /// let body = serde_json::to_value(request.upstream_body("gpt-4o-mini", true)).unwrap();
    /// assert_eq!(body["model"], "gpt-4o-mini");
    /// assert_eq!(body["stream"], true);
    /// ```
    pub fn upstream_body<'a>(&'a self, model: &'a str, stream: bool) -> UpstreamChatBody<'a> {
        UpstreamChatBody {
            request: self,
            model,
            stream,
        }
    }
}

impl Serialize for UpstreamChatBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Destructured without `..`: a field added to ChatRequest does not compile here
        // until it is written (or deliberately left out) below.
        let ChatRequest {
            model: _,
            messages,
            stream: _,
            stream_options,
            temperature,
            top_p,
            max_tokens,
            max_completion_tokens,
            n,
            stop,
            tools,
            tool_choice,
            response_format,
            user,
            seed,
            extra,
        } = self.request;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("model", self.model)?;
        map.serialize_entry("messages", messages)?;
        if self.stream {
            map.serialize_entry("stream", &true)?;
            if let Some(options) = stream_options {
                map.serialize_entry("stream_options", options)?;
            }
        }
        if let Some(v) = temperature {
            map.serialize_entry("temperature", v)?;
        }
        if let Some(v) = top_p {
            map.serialize_entry("top_p", v)?;
        }
        if let Some(v) = max_tokens {
            map.serialize_entry("max_tokens", v)?;
        }
        if let Some(v) = max_completion_tokens {
            map.serialize_entry("max_completion_tokens", v)?;
        }
        if let Some(v) = n {
            map.serialize_entry("n", v)?;
        }
        if let Some(v) = stop {
            map.serialize_entry("stop", v)?;
        }
        if let Some(v) = tools {
            map.serialize_entry("tools", v)?;
        }
        if let Some(v) = tool_choice {
            map.serialize_entry("tool_choice", v)?;
        }
        if let Some(v) = response_format {
            map.serialize_entry("response_format", v)?;
        }
        if let Some(v) = user {
            map.serialize_entry("user", v)?;
        }
        if let Some(v) = seed {
            map.serialize_entry("seed", v)?;
        }
        for (key, value) in extra {
            if !OWN_KEYS.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// An [`EmbeddingsRequest`] as the body of an OpenAI-format embeddings call; see
/// [`EmbeddingsRequest::upstream_body`].
#[derive(Debug, Clone, Copy)]
pub struct UpstreamEmbeddingsBody<'a> {
    request: &'a EmbeddingsRequest,
    model: &'a str,
}

impl EmbeddingsRequest {
    /// This request as the JSON body of an OpenAI-format embeddings call to `model`
    /// (which replaces the group name the client sent).
    pub fn upstream_body<'a>(&'a self, model: &'a str) -> UpstreamEmbeddingsBody<'a> {
        UpstreamEmbeddingsBody {
            request: self,
            model,
        }
    }
}

impl Serialize for UpstreamEmbeddingsBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let EmbeddingsRequest {
            model: _,
            input,
            encoding_format,
            dimensions,
            user,
            extra,
        } = self.request;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("model", self.model)?;
        map.serialize_entry("input", input)?;
        if let Some(v) = encoding_format {
            map.serialize_entry("encoding_format", v)?;
        }
        if let Some(v) = dimensions {
            map.serialize_entry("dimensions", v)?;
        }
        if let Some(v) = user {
            map.serialize_entry("user", v)?;
        }
        for (key, value) in extra {
            if key != "model" {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// Every field of a request set, as a client would send it.
    fn full_request() -> ChatRequest {
        serde_json::from_value(json!({
            "model": "group",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": false,
            "stream_options": {"include_usage": true},
            "temperature": 0.5,
            "top_p": 0.9,
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "n": 2,
            "stop": ["\n"],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "auto",
            "response_format": {"type": "json_object"},
            "user": "u-1",
            "seed": 7,
            "logit_bias": {"50256": -100}
        }))
        .expect("a valid request")
    }

    #[test]
    fn the_body_is_the_request_with_our_model_and_every_other_field() {
        let request = full_request();
        let plain = serde_json::to_value(request.upstream_body("gpt-4o", false)).unwrap();
        let Value::Object(mut fields) = serde_json::to_value(&request).unwrap() else {
            panic!("a request is a JSON object");
        };
        fields.insert("model".to_owned(), json!("gpt-4o"));
        fields.remove("stream");
        fields.remove("stream_options");
        assert_eq!(plain, Value::Object(fields.clone()));

        let streamed = serde_json::to_value(request.upstream_body("gpt-4o", true)).unwrap();
        fields.insert("stream".to_owned(), json!(true));
        fields.insert("stream_options".to_owned(), json!({"include_usage": true}));
        assert_eq!(streamed, Value::Object(fields));
    }

    #[test]
    fn a_hand_filled_extra_does_not_write_a_key_twice() {
        let mut request = ChatRequest::new("group", vec![]);
        for key in OWN_KEYS {
            request.extra.insert(key.to_owned(), json!("from extra"));
        }
        let text = serde_json::to_string(&request.upstream_body("m", false)).unwrap();
        assert_eq!(text, r#"{"model":"m","messages":[]}"#);
        let text = serde_json::to_string(&request.upstream_body("m", true)).unwrap();
        assert_eq!(text, r#"{"model":"m","messages":[],"stream":true}"#);
    }

    #[test]
    fn embeddings_bodies_carry_our_model() {
        let mut request = EmbeddingsRequest::new("group", json!(["a", "b"]));
        request.dimensions = Some(256);
        request.extra.insert("x".to_owned(), json!(1));
        let body: Value = serde_json::to_value(request.upstream_body("text-3")).unwrap();
        assert_eq!(
            body,
            json!({"model": "text-3", "input": ["a", "b"], "dimensions": 256, "x": 1})
        );
    }
}
