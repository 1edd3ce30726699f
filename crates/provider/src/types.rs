//! Canonical request, response and chunk types, in OpenAI's chat-completions schema.
//!
//! Every struct carries an `extra` map (`#[serde(flatten)]`) that collects the fields we do
//! not model, and writes them back out unchanged: a client's `logit_bias`, `parallel_tool_calls`
//! or a provider's `reasoning_content` reach the other side without this crate knowing them.
//!
//! Fields are public: these are data. Structs are `#[non_exhaustive]` so adding a field is not
//! a breaking change; outside this crate, build them with their constructors (or `Default`) and
//! then set fields.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields a type does not model, kept as received.
type Extra = Map<String, Value>;

// ---------------------------------------------------------------------------------------------
// Requests

/// A chat completion request (`POST /v1/chat/completions`).
///
/// `model` is what the client asked for (a model group name); providers send their own
/// configured model upstream instead. Switchyard's own request options (`num_retries`,
/// `fallbacks`, ...) arrive in `extra` and are taken out by the proxy before a provider
/// sees the request; everything else in `extra` is forwarded upstream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatRequest {
    /// The model (group) the client asked for.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Whether the client asked for a stream (informational: providers stream when called
    /// through [`Provider::chat_stream`](crate::Provider::chat_stream)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options, such as asking for a final usage chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling probability mass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Maximum tokens to generate (legacy name, still the most widely supported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Maximum tokens to generate, reasoning included (OpenAI's newer name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// How many choices to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Tools the model may call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// `"auto"`, `"none"`, `"required"` or a specific tool, kept as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// `{"type": "json_object"}`, a JSON schema, ..., kept as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// The end user's id, for the upstream's abuse monitoring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Seed for best-effort deterministic sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Fields not modelled above, forwarded untouched.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatRequest {
    /// A request for `model` with `messages` and nothing else set.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        ChatRequest {
            model: model.into(),
            messages,
            ..ChatRequest::default()
        }
    }

    /// Whether the client asked for a final usage chunk (`stream_options.include_usage`).
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

/// `stream_options` of a [`ChatRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Ask for a final chunk carrying the usage of the whole request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub extra: Extra,
}

impl StreamOptions {
    /// Options asking (or not) for a final usage chunk.
    pub fn include_usage(include: bool) -> Self {
        StreamOptions {
            include_usage: Some(include),
            extra: Extra::new(),
        }
    }
}

/// Stop sequences: one string or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// A single stop sequence.
    One(String),
    /// Several stop sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The stop sequences as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says; `None` for an assistant message that only calls tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// An optional participant name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls an assistant message makes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// For a `tool` message: the call it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Fields not modelled above (`refusal`, `annotations`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Message {
    /// A message from `role` with `content`.
    pub fn new(role: Role, content: impl Into<Content>) -> Self {
        Message {
            role,
            content: Some(content.into()),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Extra::new(),
        }
    }

    /// A `system` message.
    pub fn system(content: impl Into<Content>) -> Self {
        Message::new(Role::System, content)
    }

    /// A `developer` message (OpenAI's successor to `system` for reasoning models).
    pub fn developer(content: impl Into<Content>) -> Self {
        Message::new(Role::Developer, content)
    }

    /// A `user` message.
    pub fn user(content: impl Into<Content>) -> Self {
        Message::new(Role::User, content)
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<Content>) -> Self {
        Message::new(Role::Assistant, content)
    }

    /// A `tool` message answering the tool call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<Content>) -> Self {
        Message {
            tool_call_id: Some(tool_call_id.into()),
            ..Message::new(Role::Tool, content)
        }
    }

    /// The message's text when its content is a plain string (see [`Content::as_text`]).
    pub fn text(&self) -> Option<&str> {
        self.content.as_ref().and_then(Content::as_text)
    }
}

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// Any other value, kept exactly as received.
            Other(String),
        }

        impl $name {
            /// The wire name.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )*
                    $name::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $( $text => $name::$variant, )*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Ok($name::from(text.as_ref()))
            }
        }
    };
}

string_enum! {
    /// Who wrote a message. Unknown roles (`function`, a provider's own) are kept as sent.
    pub enum Role {
        /// Instructions from the application.
        System = "system",
        /// Instructions from the developer (reasoning models).
        Developer = "developer",
        /// The end user.
        User = "user",
        /// The model.
        Assistant = "assistant",
        /// A tool's answer to a tool call.
        Tool = "tool",
    }
}

string_enum! {
    /// Why a choice stopped. Unknown reasons are kept as sent.
    pub enum FinishReason {
        /// A natural stop or a stop sequence.
        Stop = "stop",
        /// The token limit was reached.
        Length = "length",
        /// The model called tools.
        ToolCalls = "tool_calls",
        /// The provider's content filter cut the answer.
        ContentFilter = "content_filter",
        /// The model called a function (legacy).
        FunctionCall = "function_call",
    }
}

/// A message's content: a plain string, or a list of typed parts (text, images, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Typed parts.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The text when the content is a plain string.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Content::Text(text) => Some(text),
            Content::Parts(_) => None,
        }
    }

    /// All the text: the plain string, or the text parts joined with newlines (images and
    /// unknown parts are skipped).
    pub fn to_text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text(t) => Some(t.text.as_str()),
                    ContentPart::ImageUrl(_) | ContentPart::Other(_) => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

// Written by hand rather than `#[serde(untagged)]` so that a wrong value says what is
// expected ("a string or an array of content parts") and errors inside a part keep
// their own message and path, instead of "data did not match any variant".
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl<'de> serde::de::Visitor<'de> for ContentVisitor {
            type Value = Content;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of content parts")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Content, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(part) = seq.next_element::<ContentPart>()? {
                    parts.push(part);
                }
                Ok(Content::Parts(parts))
            }
        }

        deserializer.deserialize_any(ContentVisitor)
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content::Text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Content::Text(text.to_owned())
    }
}

impl From<Vec<ContentPart>> for Content {
    fn from(parts: Vec<ContentPart>) -> Self {
        Content::Parts(parts)
    }
}

/// One part of a multi-part message, tagged by `type` on the wire.
///
/// Part types we do not model (`input_audio`, `file`, a provider's own) are kept whole in
/// [`ContentPart::Other`], and so is a known type whose shape does not parse: nothing the
/// client sent is lost.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ContentPart {
    /// `{"type": "text", "text": ...}`.
    Text(TextPart),
    /// `{"type": "image_url", "image_url": {"url", "detail"}}`.
    ImageUrl(ImageUrlPart),
    /// Any other part, as received (including its `type`).
    Other(Value),
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text(TextPart {
            text: text.into(),
            extra: Extra::new(),
        })
    }

    /// An image part from a URL (or a `data:` URL).
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentPart::ImageUrl(ImageUrlPart {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
                extra: Extra::new(),
            },
            extra: Extra::new(),
        })
    }

    /// The wire `type` of this part.
    pub fn part_type(&self) -> Option<&str> {
        match self {
            ContentPart::Text(_) => Some("text"),
            ContentPart::ImageUrl(_) => Some("image_url"),
            ContentPart::Other(value) => value.get("type").and_then(Value::as_str),
        }
    }
}

/// The body of a text part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TextPart {
    /// The text.
    pub text: String,
    /// Fields not modelled above (`cache_control`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of an image part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageUrlPart {
    /// The image.
    pub image_url: ImageUrl,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An image reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageUrl {
    /// An `https:` or `data:` URL.
    pub url: String,
    /// `"auto"`, `"low"` or `"high"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Serialize for ContentPart {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn write_extra<M: SerializeMap>(map: &mut M, extra: &Extra) -> Result<(), M::Error> {
            extra
                .iter()
                .filter(|(k, _)| k.as_str() != "type")
                .try_for_each(|(k, v)| map.serialize_entry(k, v))
        }
        match self {
            ContentPart::Text(part) => {
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("type", "text")?;
                map.serialize_entry("text", &part.text)?;
                write_extra(&mut map, &part.extra)?;
                map.end()
            }
            ContentPart::ImageUrl(part) => {
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("type", "image_url")?;
                map.serialize_entry("image_url", &part.image_url)?;
                write_extra(&mut map, &part.extra)?;
                map.end()
            }
            ContentPart::Other(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(ContentPart::from_value(value))
    }
}

impl ContentPart {
    fn from_value(value: Value) -> ContentPart {
        fn body_of<T: serde::de::DeserializeOwned>(value: &Value) -> Option<T> {
            let mut body = value.as_object()?.clone();
            body.remove("type");
            serde_json::from_value(Value::Object(body)).ok()
        }
        let parsed = match value.get("type").and_then(Value::as_str) {
            Some("text") => body_of(&value).map(ContentPart::Text),
            Some("image_url") => body_of(&value).map(ContentPart::ImageUrl),
            _ => None,
        };
        parsed.unwrap_or(ContentPart::Other(value))
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tool {
    /// Always `"function"` today.
    #[serde(rename = "type", default = "function_type")]
    pub tool_type: String,
    /// The function's declaration.
    pub function: FunctionDef,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Tool {
    /// A function tool taking arguments described by the JSON schema `parameters`.
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> Self {
        Tool {
            tool_type: function_type(),
            function: FunctionDef {
                name: name.into(),
                description: Some(description.into()),
                parameters: Some(parameters),
                extra: Extra::new(),
            },
            extra: Extra::new(),
        }
    }
}

/// A function declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionDef {
    /// The function's name.
    pub name: String,
    /// What it does, for the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON schema of its arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Fields not modelled above (`strict`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// The call's id, echoed by the `tool` message that answers it.
    pub id: String,
    /// Always `"function"` today.
    #[serde(rename = "type", default = "function_type")]
    pub call_type: String,
    /// The function called.
    pub function: FunctionCall,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ToolCall {
    /// A call of function `name` with `arguments` (a JSON document as a string).
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        ToolCall {
            id: id.into(),
            call_type: function_type(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
                extra: Extra::new(),
            },
            extra: Extra::new(),
        }
    }
}

/// The function part of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// The arguments, a JSON document as a string (the model may produce invalid JSON).
    pub arguments: String,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub extra: Extra,
}

fn function_type() -> String {
    "function".to_owned()
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A complete chat completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The completion's id.
    pub id: String,
    /// Always `"chat.completion"`.
    pub object: String,
    /// Unix seconds when it was created.
    pub created: u64,
    /// The model that answered (the upstream's name for it).
    pub model: String,
    /// The generated choices.
    pub choices: Vec<Choice>,
    /// Token counts, when the upstream reported them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The upstream's backend configuration fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Fields not modelled above (`service_tier`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ChatResponse {
    fn default() -> Self {
        ChatResponse {
            id: String::new(),
            object: "chat.completion".to_owned(),
            created: 0,
            model: String::new(),
            choices: Vec::new(),
            usage: None,
            system_fingerprint: None,
            extra: Extra::new(),
        }
    }
}

impl ChatResponse {
    /// A response with `choices`, created at `created` (Unix seconds).
    pub fn new(
        id: impl Into<String>,
        model: impl Into<String>,
        created: u64,
        choices: Vec<Choice>,
    ) -> Self {
        ChatResponse {
            id: id.into(),
            model: model.into(),
            created,
            choices,
            ..ChatResponse::default()
        }
    }

    /// A response with one assistant choice saying `text`, finished with `stop`, created now.
    pub fn from_text(
        id: impl Into<String>,
        model: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        let choice = Choice::new(0, Message::assistant(text.into()), Some(FinishReason::Stop));
        ChatResponse::new(id, model, unix_now(), vec![choice])
    }

    /// The first choice's text, when its content is a plain string.
    pub fn text(&self) -> Option<&str> {
        self.choices.first().and_then(|c| c.message.text())
    }
}

/// One generated choice of a [`ChatResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Choice {
    /// The choice's position.
    #[serde(default)]
    pub index: u32,
    /// The generated message.
    pub message: Message,
    /// Why generation stopped (always written, `null` when unknown, as OpenAI does).
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Fields not modelled above, `logprobs` among them (see [`Choice::logprobs`]).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Choice {
    /// A choice.
    pub fn new(index: u32, message: Message, finish_reason: Option<FinishReason>) -> Self {
        Choice {
            index,
            message,
            finish_reason,
            extra: Extra::new(),
        }
    }

    /// The choice's `logprobs`, when present and not `null`.
    ///
    /// Kept in `extra` rather than as a field so that an upstream's explicit `"logprobs": null`
    /// is written back exactly as received.
    pub fn logprobs(&self) -> Option<&Value> {
        self.extra.get("logprobs").filter(|v| !v.is_null())
    }
}

/// Token counts of one request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Their sum, as the upstream reported it.
    pub total_tokens: u64,
    /// Fields not modelled above (`prompt_tokens_details`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Usage {
    /// Counts with `total_tokens` computed.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            extra: Extra::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming

/// One chunk of a streamed chat completion (`data:` of one server-sent event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ChatChunk {
    /// The completion's id, the same in every chunk.
    pub id: String,
    /// Always `"chat.completion.chunk"`.
    pub object: String,
    /// Unix seconds when the completion was created.
    pub created: u64,
    /// The model that answers.
    pub model: String,
    /// Deltas, usually one; empty in the final usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// Token counts, in the final chunk when `stream_options.include_usage` was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Fields not modelled above (`system_fingerprint`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ChatChunk {
    fn default() -> Self {
        ChatChunk {
            id: String::new(),
            object: "chat.completion.chunk".to_owned(),
            created: 0,
            model: String::new(),
            choices: Vec::new(),
            usage: None,
            extra: Extra::new(),
        }
    }
}

impl ChatChunk {
    /// A chunk with no choices yet.
    pub fn new(id: impl Into<String>, model: impl Into<String>, created: u64) -> Self {
        ChatChunk {
            id: id.into(),
            model: model.into(),
            created,
            ..ChatChunk::default()
        }
    }

    /// Adds a choice (builder style).
    #[must_use]
    pub fn with_choice(mut self, choice: ChunkChoice) -> Self {
        self.choices.push(choice);
        self
    }

    /// Whether this chunk carries anything the client will see as output: text, refusal or
    /// reasoning text, or any part of a tool call.
    ///
    /// The router's streaming commit point: before the first chunk for which this is true,
    /// an attempt may still be retried or fall back; after it, it may not.
    pub fn has_content(&self) -> bool {
        self.choices.iter().any(|c| c.delta.has_content())
    }

    /// The first choice's text delta.
    pub fn text(&self) -> Option<&str> {
        self.choices
            .first()
            .and_then(|c| c.delta.content.as_deref())
    }

    /// The first finish reason any choice carries.
    pub fn finish_reason(&self) -> Option<&FinishReason> {
        self.choices.iter().find_map(|c| c.finish_reason.as_ref())
    }

    /// Turns a complete response into the chunks that would have streamed it: per choice, one
    /// chunk with the whole message and one with the finish reason; the usage rides on the
    /// last chunk. For providers without streaming and for tests.
    pub fn split_response(response: &ChatResponse) -> Vec<ChatChunk> {
        let base = ChatChunk {
            extra: Extra::new(),
            ..ChatChunk::new(
                response.id.clone(),
                response.model.clone(),
                response.created,
            )
        };
        let mut chunks = Vec::with_capacity(response.choices.len() * 2);
        for choice in &response.choices {
            let message = &choice.message;
            let delta = Delta {
                role: Some(message.role.clone()),
                content: message.content.as_ref().map(Content::to_text),
                tool_calls: message.tool_calls.as_ref().map(|calls| {
                    calls
                        .iter()
                        .zip(0u32..)
                        .map(|(call, index)| ToolCallDelta {
                            index,
                            id: Some(call.id.clone()),
                            call_type: Some(call.call_type.clone()),
                            function: Some(FunctionCallDelta {
                                name: Some(call.function.name.clone()),
                                arguments: Some(call.function.arguments.clone()),
                                extra: Extra::new(),
                            }),
                            extra: Extra::new(),
                        })
                        .collect()
                }),
                extra: Extra::new(),
            };
            chunks.push(
                base.clone()
                    .with_choice(ChunkChoice::new(choice.index, delta)),
            );
            let finish = ChunkChoice {
                finish_reason: choice.finish_reason.clone(),
                ..ChunkChoice::new(choice.index, Delta::default())
            };
            chunks.push(base.clone().with_choice(finish));
        }
        if let Some(last) = chunks.last_mut() {
            last.usage = response.usage.clone();
        }
        chunks
    }
}

/// One choice's delta in a [`ChatChunk`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChunkChoice {
    /// The choice's position.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Delta,
    /// Set in the choice's last chunk (always written, `null` until then, as OpenAI does).
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Fields not modelled above (`logprobs`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChunkChoice {
    /// A choice delta with no finish reason.
    pub fn new(index: u32, delta: Delta) -> Self {
        ChunkChoice {
            index,
            delta,
            finish_reason: None,
            extra: Extra::new(),
        }
    }

    /// The closing delta of a choice: empty, with its finish reason.
    pub fn finished(index: u32, reason: FinishReason) -> Self {
        ChunkChoice {
            finish_reason: Some(reason),
            ..ChunkChoice::new(index, Delta::default())
        }
    }
}

/// What one chunk adds to a choice.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Delta {
    /// The role, usually only in the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// More text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Pieces of tool calls, joined by `index`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Fields not modelled above (`refusal`, `reasoning_content`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Delta {
    /// A delta adding `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Delta {
            content: Some(text.into()),
            ..Delta::default()
        }
    }

    /// A delta opening an assistant message (role only).
    pub fn assistant() -> Self {
        Delta {
            role: Some(Role::Assistant),
            ..Delta::default()
        }
    }

    /// Whether the delta carries output: non-empty text, refusal or reasoning text, or any
    /// part of a tool call (see [`ChatChunk::has_content`]).
    pub fn has_content(&self) -> bool {
        let non_empty = |s: Option<&str>| s.is_some_and(|s| !s.is_empty());
        non_empty(self.content.as_deref())
            || ["refusal", "reasoning_content", "reasoning"]
                .iter()
                .any(|k| non_empty(self.extra.get(*k).and_then(Value::as_str)))
            || self.tool_calls.as_ref().is_some_and(|calls| {
                calls.iter().any(|c| {
                    non_empty(c.id.as_deref())
                        || c.function.as_ref().is_some_and(|f| {
                            non_empty(f.name.as_deref()) || non_empty(f.arguments.as_deref())
                        })
                })
            })
    }
}

/// A piece of a tool call in a stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCallDelta {
    /// Which tool call of the message this piece belongs to.
    #[serde(default)]
    pub index: u32,
    /// The call's id, in its first piece.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `"function"`, in its first piece.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub call_type: Option<String>,
    /// The function's name and a piece of its arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The function part of a [`ToolCallDelta`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionCallDelta {
    /// The function's name, in the first piece.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The next piece of the arguments string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------------------------------------
// Embeddings

/// An embeddings request (`POST /v1/embeddings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddingsRequest {
    /// The model (group) the client asked for.
    pub model: String,
    /// A string, a list of strings, or token arrays, kept as JSON.
    pub input: Value,
    /// `"float"` or `"base64"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// Output dimensions, for models that can shorten their embeddings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// The end user's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub extra: Extra,
}

impl EmbeddingsRequest {
    /// A request embedding `input` with `model`.
    pub fn new(model: impl Into<String>, input: impl Into<Value>) -> Self {
        EmbeddingsRequest {
            model: model.into(),
            input: input.into(),
            encoding_format: None,
            dimensions: None,
            user: None,
            extra: Extra::new(),
        }
    }
}

/// An embeddings response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct EmbeddingsResponse {
    /// Always `"list"`.
    pub object: String,
    /// One `{"object": "embedding", "index", "embedding"}` per input, kept as JSON.
    pub data: Vec<Value>,
    /// The model that answered.
    pub model: String,
    /// Token counts (`completion_tokens` is zero).
    pub usage: Usage,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for EmbeddingsResponse {
    fn default() -> Self {
        EmbeddingsResponse {
            object: "list".to_owned(),
            data: Vec::new(),
            model: String::new(),
            usage: Usage::default(),
            extra: Extra::new(),
        }
    }
}

impl EmbeddingsResponse {
    /// A response with `data` from `model`.
    pub fn new(model: impl Into<String>, data: Vec<Value>, usage: Usage) -> Self {
        EmbeddingsResponse {
            model: model.into(),
            data,
            usage,
            ..EmbeddingsResponse::default()
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip<T: Serialize + serde::de::DeserializeOwned>(wire: &Value) -> (T, Value) {
        let parsed: T = serde_json::from_value(wire.clone()).expect("wire JSON parses");
        let back = serde_json::to_value(&parsed).expect("serializes");
        (parsed, back)
    }

    #[test]
    fn request_with_unknown_fields_round_trips_unchanged() {
        let wire = json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    {"type": "text"}
                ]},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"q\":1}"}}
                ], "refusal": null},
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
                {"role": "function", "name": "legacy", "content": "kept"}
            ],
            "stream": true,
            "stream_options": {"include_usage": true, "future_option": 1},
            "temperature": 0.7,
            "top_p": 0.95,
            "max_tokens": 100,
            "max_completion_tokens": 120,
            "n": 1,
            "stop": ["\n\n", "END"],
            "tools": [{"type": "function", "function": {"name": "look", "description": "Looks", "parameters": {"type": "object"}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "look"}},
            "response_format": {"type": "json_object"},
            "user": "u-1",
            "seed": -42,
            "logit_bias": {"50256": -100},
            "parallel_tool_calls": false,
            "metadata": {"trace": "abc"}
        });
        let (req, back): (ChatRequest, _) = round_trip(&wire);
        assert_eq!(back, wire);

        // The modelled fields are where a provider expects them.
        assert_eq!(req.messages[0].role, Role::Developer);
        assert_eq!(req.messages[4].role, Role::Other("function".to_owned()));
        assert!(req.wants_stream_usage());
        assert_eq!(
            req.stop,
            Some(Stop::Many(vec!["\n\n".to_owned(), "END".to_owned()]))
        );
        assert_eq!(req.extra.get("parallel_tool_calls"), Some(&json!(false)));
        let Some(Content::Parts(parts)) = &req.messages[1].content else {
            panic!("parts expected: {:?}", req.messages[1].content);
        };
        assert!(
            matches!(&parts[0], ContentPart::Text(t) if t.text == "What is this?" && t.extra.contains_key("cache_control"))
        );
        assert!(
            matches!(&parts[1], ContentPart::ImageUrl(i) if i.image_url.detail.as_deref() == Some("low"))
        );
        assert_eq!(parts[2].part_type(), Some("input_audio"));
        // A known type that does not parse is kept whole, not dropped.
        assert!(matches!(&parts[3], ContentPart::Other(_)));
        assert_eq!(
            req.messages[1]
                .content
                .as_ref()
                .map(Content::to_text)
                .as_deref(),
            Some("What is this?")
        );
    }

    #[test]
    fn response_round_trips_with_nulls_and_unknown_fields() {
        let wire = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000u64,
            "model": "gpt-4o-2024-08-06",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there", "refusal": null, "annotations": []},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11,
                      "prompt_tokens_details": {"cached_tokens": 0}},
            "system_fingerprint": "fp_1", "service_tier": "default"
        });
        let (resp, back): (ChatResponse, _) = round_trip(&wire);
        assert_eq!(back, wire);
        assert_eq!(resp.text(), Some("Hello there"));
        assert_eq!(resp.choices[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(resp.choices[0].logprobs(), None);
        assert_eq!(resp.usage.as_ref().map(|u| u.total_tokens), Some(11));
    }

    #[test]
    fn chunk_round_trips_and_keeps_null_finish_reason() {
        let wire = json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "system_fingerprint": "fp",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null},
                         "logprobs": null, "finish_reason": null}]
        });
        let (chunk, back): (ChatChunk, _) = round_trip(&wire);
        assert_eq!(back, wire);
        // Role and empty text are not content: the commit point has not been reached.
        assert!(!chunk.has_content());
    }

    #[test]
    fn unknown_finish_reason_is_kept() {
        let wire = json!({"index": 0, "delta": {}, "finish_reason": "end_turn"});
        let (choice, back): (ChunkChoice, _) = round_trip(&wire);
        assert_eq!(
            choice.finish_reason,
            Some(FinishReason::Other("end_turn".to_owned()))
        );
        assert_eq!(back, wire);
    }

    #[test]
    fn has_content_marks_the_commit_point() {
        let chunk =
            |delta: Delta| ChatChunk::new("c", "m", 0).with_choice(ChunkChoice::new(0, delta));
        assert!(!chunk(Delta::assistant()).has_content());
        assert!(!chunk(Delta::text("")).has_content());
        assert!(
            !ChatChunk::new("c", "m", 0)
                .with_choice(ChunkChoice::finished(0, FinishReason::Stop))
                .has_content()
        );
        assert!(chunk(Delta::text("Hi")).has_content());

        let tool = ToolCallDelta {
            function: Some(FunctionCallDelta {
                arguments: Some("{\"a\"".to_owned()),
                ..FunctionCallDelta::default()
            }),
            ..ToolCallDelta::default()
        };
        assert!(
            chunk(Delta {
                tool_calls: Some(vec![tool]),
                ..Delta::default()
            })
            .has_content()
        );

        let mut refusal = Delta::default();
        refusal
            .extra
            .insert("refusal".to_owned(), json!("I can't help with that."));
        assert!(chunk(refusal).has_content());
    }

    #[test]
    fn constructors_write_openai_json() {
        let req = ChatRequest::new(
            "group",
            vec![Message::system("be nice"), Message::user("hi")],
        );
        assert_eq!(
            serde_json::to_value(&req).expect("serializes"),
            json!({"model": "group", "messages": [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": "hi"}
            ]})
        );
        let parts = Message::user(vec![
            ContentPart::text("look"),
            ContentPart::image_url("data:image/png;base64,AA"),
        ]);
        assert_eq!(
            serde_json::to_value(&parts).expect("serializes"),
            json!({"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
            ]})
        );
        let tool = Message::tool("call_1", "42");
        assert_eq!(
            serde_json::to_value(&tool).expect("serializes"),
            json!({"role": "tool", "content": "42", "tool_call_id": "call_1"})
        );
        assert_eq!(Usage::new(3, 4).total_tokens, 7);
    }

    #[test]
    fn a_request_without_model_or_messages_is_rejected() {
        assert!(serde_json::from_value::<ChatRequest>(json!({"messages": []})).is_err());
        assert!(serde_json::from_value::<ChatRequest>(json!({"model": "m"})).is_err());
        assert!(
            serde_json::from_value::<ChatRequest>(
                json!({"model": "m", "messages": [{"content": "no role"}]})
            )
            .is_err()
        );
    }

    #[test]
    fn split_response_streams_the_same_answer() {
        let mut response = ChatResponse::from_text("id-1", "m", "Hello");
        response.usage = Some(Usage::new(1, 1));
        response.choices[0].message.tool_calls =
            Some(vec![ToolCall::function("call_1", "f", "{}")]);
        let chunks = ChatChunk::split_response(&response);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].text(), Some("Hello"));
        assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(
            chunks[0].choices[0].delta.tool_calls.as_ref().map(Vec::len),
            Some(1)
        );
        assert_eq!(chunks[1].finish_reason(), Some(&FinishReason::Stop));
        assert_eq!(chunks[1].usage, Some(Usage::new(1, 1)));
        assert!(
            chunks
                .iter()
                .all(|c| c.id == "id-1" && c.object == "chat.completion.chunk")
        );
    }

    #[test]
    fn embeddings_round_trip() {
        let wire = json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 8, "encoding_format": "float"});
        let (req, back): (EmbeddingsRequest, _) = round_trip(&wire);
        assert_eq!(back, wire);
        assert_eq!(req.dimensions, Some(8));
        let wire = json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
                          "model": "m", "usage": {"prompt_tokens": 2, "completion_tokens": 0, "total_tokens": 2}});
        let (_, back): (EmbeddingsResponse, _) = round_trip(&wire);
        assert_eq!(back, wire);
    }
}
