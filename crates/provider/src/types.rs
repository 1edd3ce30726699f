//! Canonical request, response and chunk types, in OpenAI's chat-completions schema.
//!
//! Every struct carries an `extra` map that collects the fields we do not model, and writes
//! them back out unchanged: a client's `logit_bias`, `parallel_tool_calls` or a provider's
//! `reasoning_content` reach the other side without this crate knowing them. The structs'
//! serde implementations are written by `wire_struct!` (in `types/wire.rs`) rather than
//! derived with `#[serde(flatten)]`, which buffered every unknown field before converting it.
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

use wire::wire_struct;

mod wire;

/// Fields a type does not model, kept as received.
type Extra = Map<String, Value>;

// ---------------------------------------------------------------------------------------------
// Requests

wire_struct! {
    /// A chat completion request (`POST /v1/chat/completions`).
    ///
    /// `model` is what the client asked for (a model group name); providers send their own
    /// configured model upstream instead. Switchyard's own request options (`num_retries`,
    /// `fallbacks`, ...) arrive in `extra` and are taken out by the proxy before a provider
    /// sees the request; everything else in `extra` is forwarded upstream.
    #[derive(Debug, Clone, PartialEq, Default)]
    #[non_exhaustive]
    pub struct ChatRequest {
        /// The model (group) the client asked for.
        pub model: String,
        /// The conversation so far.
        pub messages: Vec<Message>,
        /// Whether the client asked for a stream (informational: providers stream when called
        /// through [`Provider::chat_stream`](crate::Provider::chat_stream)).
        #[wire(skip_none)]
        pub stream: Option<bool>,
        /// Streaming options, such as asking for a final usage chunk.
        #[wire(skip_none)]
        pub stream_options: Option<StreamOptions>,
        /// Sampling temperature.
        #[wire(skip_none)]
        pub temperature: Option<f64>,
        /// Nucleus sampling probability mass.
        #[wire(skip_none)]
        pub top_p: Option<f64>,
        /// Maximum tokens to generate (legacy name, still the most widely supported).
        #[wire(skip_none)]
        pub max_tokens: Option<u32>,
        /// Maximum tokens to generate, reasoning included (OpenAI's newer name).
        #[wire(skip_none)]
        pub max_completion_tokens: Option<u32>,
        /// How many choices to generate.
        #[wire(skip_none)]
        pub n: Option<u32>,
        /// Stop sequences.
        #[wire(skip_none)]
        pub stop: Option<Stop>,
        /// Tools the model may call.
        #[wire(skip_none)]
        pub tools: Option<Vec<Tool>>,
        /// `"auto"`, `"none"`, `"required"` or a specific tool, kept as JSON.
        #[wire(skip_none)]
        pub tool_choice: Option<Value>,
        /// `{"type": "json_object"}`, a JSON schema, ..., kept as JSON.
        #[wire(skip_none)]
        pub response_format: Option<Value>,
        /// The end user's id, for the upstream's abuse monitoring.
        #[wire(skip_none)]
        pub user: Option<String>,
        /// Seed for best-effort deterministic sampling.
        #[wire(skip_none)]
        pub seed: Option<i64>,
        /// Fields not modelled above, forwarded untouched.
        pub extra: Extra,
    }
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

wire_struct! {
    /// `stream_options` of a [`ChatRequest`].
    #[derive(Debug, Clone, PartialEq, Default)]
    #[non_exhaustive]
    pub struct StreamOptions {
        /// Ask for a final chunk carrying the usage of the whole request.
        #[wire(skip_none)]
        pub include_usage: Option<bool>,
        /// Fields not modelled above.
        pub extra: Extra,
    }
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

wire_struct! {
    /// One message of a conversation.
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct Message {
        /// Who wrote it.
        pub role: Role,
        /// What it says; `None` for an assistant message that only calls tools.
        #[wire(skip_none)]
        pub content: Option<Content>,
        /// An optional participant name.
        #[wire(skip_none)]
        pub name: Option<String>,
        /// Tool calls an assistant message makes.
        #[wire(skip_none)]
        pub tool_calls: Option<Vec<ToolCall>>,
        /// For a `tool` message: the call it answers.
        #[wire(skip_none)]
        pub tool_call_id: Option<String>,
        /// Fields not modelled above (`refusal`, `annotations`, ...).
        pub extra: Extra,
    }
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

wire_struct! {
    /// The body of a text part.
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct TextPart {
        /// The text.
        pub text: String,
        /// Fields not modelled above (`cache_control`, ...).
        pub extra: Extra,
    }
}

wire_struct! {
    /// The body of an image part.
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct ImageUrlPart {
        /// The image.
        pub image_url: ImageUrl,
        /// Fields not modelled above.
        pub extra: Extra,
    }
}

wire_struct! {
    /// An image reference.
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct ImageUrl {
        /// An `https:` or `data:` URL.
        pub url: String,
        /// `"auto"`, `"low"` or `"high"`.
        #[wire(skip_none)]
        pub detail: Option<String>,
        /// Fields not modelled above.
        pub extra: Extra,
    }
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
        // The body is read from the value in place (no copy of the object), so `type` lands in
        // the body's `extra`, and is taken out of it there.
        let parsed = match value.get("type").and_then(Value::as_str) {
            Some("text") => TextPart::deserialize(&value).ok().map(|mut part| {
                part.extra.remove("type");
                ContentPart::Text(part)
            }),
            Some("image_url") => ImageUrlPart::deserialize(&value).ok().map(|mut part| {
                part.extra.remove("type");
                ContentPart::ImageUrl(part)
            }),
            _ => None,
        };
        parsed.unwrap_or(ContentPart::Other(value))
    }
}

wire_struct! {
    /// A tool the model may call.
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct Tool {
        /// Always `"function"` today.
        #[wire(rename = "type", default = function_type)]
        pub tool_type: String,
        /// The function's declaration.
        pub function: FunctionDef,
        /// Fields not modelled above.
        pub extra: Extra,
    }
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

wire_struct! {
    /// A function declaration.
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct FunctionDef {
        /// The function's name.
        pub name: String,
        /// What it does, for the model.
        #[wire(skip_none)]
        pub description: Option<String>,
        /// A JSON schema of its arguments.
        #[wire(skip_none)]
        pub parameters: Option<Value>,
        /// Fields not modelled above (`strict`, ...).
        pub extra: Extra,
    }
}

wire_struct! {
    /// A tool call made by the model.
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct ToolCall {
        /// The call's id, echoed by the `tool` message that answers it.
        pub id: String,
        /// Always `"function"` today.
        #[wire(rename = "type", default = function_type)]
        pub call_type: String,
        /// The function called.
        pub function: FunctionCall,
        /// Fields not modelled above.
        pub extra: Extra,
    }
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

wire_struct! {
    /// The function part of a [`ToolCall`].
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct FunctionCall {
        /// The function's name.
        pub name: String,
        /// The arguments, a JSON document as a string (the model may produce invalid JSON).
        pub arguments: String,
        /// Fields not modelled above.
        pub extra: Extra,
    }
}

fn function_type() -> String {
    "function".to_owned()
}

// ---------------------------------------------------------------------------------------------
// Responses

wire_struct! {
    /// A complete chat completion.
    #[derive(Debug, Clone, PartialEq)]
    #[wire(default)]
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
        #[wire(skip_none)]
        pub usage: Option<Usage>,
        /// The upstream's backend configuration fingerprint.
        #[wire(skip_none)]
        pub system_fingerprint: Option<String>,
        /// Fields not modelled above (`service_tier`, ...).
        pub extra: Extra,
    }
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

wire_struct! {
    /// One generated choice of a [`ChatResponse`].
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct Choice {
        /// The choice's position.
        #[wire(default)]
        pub index: u32,
        /// The generated message.
        pub message: Message,
        /// Why generation stopped (always written, `null` when unknown, as OpenAI does).
        #[wire(default)]
        pub finish_reason: Option<FinishReason>,
        /// Fields not modelled above, `logprobs` among them (see [`Choice::logprobs`]).
        pub extra: Extra,
    }
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

wire_struct! {
    /// Token counts of one request.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    #[wire(default)]
    #[non_exhaustive]
    pub struct Usage {
        /// Tokens in the prompt.
        pub prompt_tokens: u64,
        /// Tokens generated.
        pub completion_tokens: u64,
        /// Their sum, as the upstream reported it.
        pub total_tokens: u64,
        /// What the prompt tokens were made of (cached, audio), when the upstream said.
        #[wire(skip_none)]
        pub prompt_tokens_details: Option<PromptTokensDetails>,
        /// What the generated tokens were made of (reasoning, audio, predictions), when the
        /// upstream said.
        #[wire(skip_none)]
        pub completion_tokens_details: Option<CompletionTokensDetails>,
        /// Fields not modelled above.
        pub extra: Extra,
    }
}

wire_struct! {
    /// What the prompt tokens of a [`Usage`] were made of.
    ///
    /// Each count is kept as the upstream sent it: absent stays absent, `0` stays `0`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    #[wire(default)]
    #[non_exhaustive]
    pub struct PromptTokensDetails {
        /// Prompt tokens read from the upstream's prompt cache (they are part of
        /// `prompt_tokens`).
        #[wire(skip_none)]
        pub cached_tokens: Option<u64>,
        /// Audio input tokens.
        #[wire(skip_none)]
        pub audio_tokens: Option<u64>,
        /// Fields not modelled above.
        pub extra: Extra,
    }
}

wire_struct! {
    /// What the generated tokens of a [`Usage`] were made of.
    ///
    /// Each count is kept as the upstream sent it: absent stays absent, `0` stays `0`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    #[wire(default)]
    #[non_exhaustive]
    pub struct CompletionTokensDetails {
        /// Tokens the model spent reasoning (part of `completion_tokens`, not in the answer).
        #[wire(skip_none)]
        pub reasoning_tokens: Option<u64>,
        /// Audio output tokens.
        #[wire(skip_none)]
        pub audio_tokens: Option<u64>,
        /// Tokens of a predicted output that appeared in the answer.
        #[wire(skip_none)]
        pub accepted_prediction_tokens: Option<u64>,
        /// Tokens of a predicted output that did not (still billed).
        #[wire(skip_none)]
        pub rejected_prediction_tokens: Option<u64>,
        /// Fields not modelled above.
        pub extra: Extra,
    }
}

impl Usage {
    /// Counts with `total_tokens` computed.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            prompt_tokens_details: None,
            completion_tokens_details: None,
            extra: Extra::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming

wire_struct! {
    /// One chunk of a streamed chat completion (`data:` of one server-sent event).
    #[derive(Debug, Clone, PartialEq)]
    #[wire(default)]
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
        #[wire(skip_none)]
        pub usage: Option<Usage>,
        /// Fields not modelled above (`system_fingerprint`, ...).
        pub extra: Extra,
    }
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

wire_struct! {
    /// One choice's delta in a [`ChatChunk`].
    #[derive(Debug, Clone, PartialEq, Default)]
    #[non_exhaustive]
    pub struct ChunkChoice {
        /// The choice's position.
        #[wire(default)]
        pub index: u32,
        /// What this chunk adds.
        #[wire(default)]
        pub delta: Delta,
        /// Set in the choice's last chunk (always written, `null` until then, as OpenAI does).
        #[wire(default)]
        pub finish_reason: Option<FinishReason>,
        /// Fields not modelled above (`logprobs`, ...).
        pub extra: Extra,
    }
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

wire_struct! {
    /// What one chunk adds to a choice.
    #[derive(Debug, Clone, PartialEq, Default)]
    #[non_exhaustive]
    pub struct Delta {
        /// The role, usually only in the first chunk.
        #[wire(skip_none)]
        pub role: Option<Role>,
        /// More text.
        #[wire(skip_none)]
        pub content: Option<String>,
        /// Pieces of tool calls, joined by `index`.
        #[wire(skip_none)]
        pub tool_calls: Option<Vec<ToolCallDelta>>,
        /// Fields not modelled above (`refusal`, `reasoning_content`, ...).
        pub extra: Extra,
    }
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

wire_struct! {
    /// A piece of a tool call in a stream.
    #[derive(Debug, Clone, PartialEq, Default)]
    #[non_exhaustive]
    pub struct ToolCallDelta {
        /// Which tool call of the message this piece belongs to.
        #[wire(default)]
        pub index: u32,
        /// The call's id, in its first piece.
        #[wire(skip_none)]
        pub id: Option<String>,
        /// `"function"`, in its first piece.
        #[wire(rename = "type", skip_none)]
        pub call_type: Option<String>,
        /// The function's name and a piece of its arguments.
        #[wire(skip_none)]
        pub function: Option<FunctionCallDelta>,
        /// Fields not modelled above.
        pub extra: Extra,
    }
}

wire_struct! {
    /// The function part of a [`ToolCallDelta`].
    #[derive(Debug, Clone, PartialEq, Default)]
    #[non_exhaustive]
    pub struct FunctionCallDelta {
        /// The function's name, in the first piece.
        #[wire(skip_none)]
        pub name: Option<String>,
        /// The next piece of the arguments string.
        #[wire(skip_none)]
        pub arguments: Option<String>,
        /// Fields not modelled above.
        pub extra: Extra,
    }
}

// ---------------------------------------------------------------------------------------------
// Embeddings

wire_struct! {
    /// An embeddings request (`POST /v1/embeddings`).
    #[derive(Debug, Clone, PartialEq)]
    #[non_exhaustive]
    pub struct EmbeddingsRequest {
        /// The model (group) the client asked for.
        pub model: String,
        /// A string, a list of strings, or token arrays, kept as JSON.
        pub input: Value,
        /// `"float"` or `"base64"`.
        #[wire(skip_none)]
        pub encoding_format: Option<String>,
        /// Output dimensions, for models that can shorten their embeddings.
        #[wire(skip_none)]
        pub dimensions: Option<u32>,
        /// The end user's id.
        #[wire(skip_none)]
        pub user: Option<String>,
        /// Fields not modelled above.
        pub extra: Extra,
    }
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

wire_struct! {
    /// An embeddings response.
    #[derive(Debug, Clone, PartialEq)]
    #[wire(default)]
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
        pub extra: Extra,
    }
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
    fn usage_details_are_typed_and_round_trip_with_unknown_counts() {
        let wire = json!({
            "prompt_tokens": 2000, "completion_tokens": 300, "total_tokens": 2300,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0, "image_tokens": 7},
            "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
            "cost": 0.0042
        });
        let (usage, back): (Usage, _) = round_trip(&wire);
        assert_eq!(back, wire);
        let prompt = usage.prompt_tokens_details.expect("prompt details");
        assert_eq!(
            (prompt.cached_tokens, prompt.audio_tokens),
            (Some(1920), Some(0))
        );
        assert_eq!(prompt.extra["image_tokens"], 7);
        let completion = usage.completion_tokens_details.expect("completion details");
        assert_eq!(completion.reasoning_tokens, Some(256));
        assert_eq!(completion.rejected_prediction_tokens, Some(0));
        assert_eq!(usage.extra["cost"], 0.0042);

        // Absent counts stay absent; a `null` breakdown (vLLM sends one) reads as none.
        let (usage, back): (Usage, _) = round_trip(&json!({
            "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": null
        }));
        assert_eq!(usage.completion_tokens_details, None);
        assert_eq!(
            back,
            json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
                   "prompt_tokens_details": {"cached_tokens": 1}})
        );

        // A count that is not a whole number is an error that names it.
        let bad = json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
                         "prompt_tokens_details": {"cached_tokens": "many"}});
        let err = serde_path_to_error::deserialize::<_, Usage>(bad).expect_err("a string count");
        assert_eq!(
            err.path().to_string(),
            "prompt_tokens_details.cached_tokens"
        );
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

    // The tests below pin what serde's derive did for these types (with `#[serde(flatten)]`),
    // which `wire_struct!` now writes by hand.

    fn parse_err<T: serde::de::DeserializeOwned + fmt::Debug>(wire: &str) -> String {
        serde_json::from_str::<T>(wire)
            .expect_err("the input is wrong")
            .to_string()
    }

    /// The path and message `serde_path_to_error` gives, as the proxy reports them.
    fn path_err<T: serde::de::DeserializeOwned + fmt::Debug>(wire: &str) -> (String, String) {
        let mut de = serde_json::Deserializer::from_str(wire);
        let err =
            serde_path_to_error::deserialize::<_, T>(&mut de).expect_err("the input is wrong");
        (err.path().to_string(), err.inner().to_string())
    }

    #[test]
    fn optional_fields_missing_or_null_are_none_and_not_written() {
        let wire = r#"{"model":"m","messages":[{"role":"user","content":null,"name":null}],
            "stream":null,"stream_options":{"include_usage":null},"temperature":null,"stop":null,
            "tools":null,"tool_choice":null,"seed":null}"#;
        let req: ChatRequest = serde_json::from_str(wire).expect("parses");
        assert_eq!(req.stream, None);
        assert_eq!(req.temperature, None);
        assert_eq!(req.tool_choice, None, "null is None, not Some(Value::Null)");
        assert_eq!(req.messages[0].content, None);
        assert!(req.extra.is_empty(), "known keys never land in extra");
        assert_eq!(
            serde_json::to_string(&req).expect("serializes"),
            r#"{"model":"m","messages":[{"role":"user"}],"stream_options":{}}"#
        );
    }

    #[test]
    fn finish_reason_is_written_as_null_when_unknown() {
        let choice: Choice =
            serde_json::from_str(r#"{"message":{"role":"assistant"}}"#).expect("parses");
        assert_eq!((choice.index, &choice.finish_reason), (0, &None));
        assert_eq!(
            serde_json::to_string(&choice).expect("serializes"),
            r#"{"index":0,"message":{"role":"assistant"},"finish_reason":null}"#
        );
        let chunk: ChunkChoice = serde_json::from_str("{}").expect("parses");
        assert_eq!(chunk, ChunkChoice::new(0, Delta::default()));
        assert_eq!(
            serde_json::to_string(&chunk).expect("serializes"),
            r#"{"index":0,"delta":{},"finish_reason":null}"#
        );
    }

    #[test]
    fn missing_required_fields_are_named() {
        let cases = [
            (
                parse_err::<ChatRequest>(r#"{"messages":[]}"#),
                "missing field `model` at line 1 column 15",
            ),
            (
                parse_err::<ChatRequest>(r#"{"model":"m"}"#),
                "missing field `messages` at line 1 column 13",
            ),
            (
                parse_err::<Message>(r#"{"content":"x"}"#),
                "missing field `role` at line 1 column 15",
            ),
            (
                parse_err::<ToolCall>(r#"{"function":{"name":"f","arguments":""}}"#),
                "missing field `id` at line 1 column 40",
            ),
            (
                parse_err::<FunctionCall>(r#"{"name":"f"}"#),
                "missing field `arguments` at line 1 column 12",
            ),
            (
                parse_err::<Tool>(r#"{"type":"function"}"#),
                "missing field `function` at line 1 column 19",
            ),
            (
                parse_err::<FunctionDef>("{}"),
                "missing field `name` at line 1 column 2",
            ),
            // A `Value` field is required too: only an `Option` may be missing.
            (
                parse_err::<EmbeddingsRequest>(r#"{"model":"m"}"#),
                "missing field `input` at line 1 column 13",
            ),
            (
                parse_err::<Choice>("{}"),
                "missing field `message` at line 1 column 2",
            ),
            (
                parse_err::<TextPart>("{}"),
                "missing field `text` at line 1 column 2",
            ),
            (
                parse_err::<ImageUrl>(r#"{"detail":"low"}"#),
                "missing field `url` at line 1 column 16",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        let missing = serde_json::from_value::<ChatRequest>(json!({"model": "m"}));
        assert_eq!(
            missing.expect_err("no messages").to_string(),
            "missing field `messages`"
        );
    }

    #[test]
    fn missing_fields_take_the_defaults() {
        let response: ChatResponse = serde_json::from_str("{}").expect("parses");
        assert_eq!(response, ChatResponse::default());
        assert_eq!(response.object, "chat.completion");
        let chunk: ChatChunk = serde_json::from_str(r#"{"id":"c"}"#).expect("parses");
        assert_eq!(chunk, ChatChunk::new("c", "", 0));
        assert_eq!(chunk.object, "chat.completion.chunk");
        let embeddings: EmbeddingsResponse = serde_json::from_str("{}").expect("parses");
        assert_eq!(embeddings.object, "list");
        let usage: Usage = serde_json::from_str(r#"{"total_tokens":3}"#).expect("parses");
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (0, 0, 3)
        );
        // A default is for a missing field; `null` is still the wrong type.
        assert_eq!(
            parse_err::<ChatResponse>(r#"{"object":null}"#),
            "invalid type: null, expected a string at line 1 column 14"
        );
        assert_eq!(
            parse_err::<ChunkChoice>(r#"{"index":null}"#),
            "invalid type: null, expected u32 at line 1 column 13"
        );
        assert_eq!(
            parse_err::<ChunkChoice>(r#"{"delta":null}"#),
            "invalid type: null, expected struct Delta at line 1 column 13"
        );
    }

    #[test]
    fn type_is_the_wire_name_of_call_type_and_tool_type() {
        let call: ToolCall =
            serde_json::from_str(r#"{"id":"c","function":{"name":"f","arguments":"{}"}}"#)
                .expect("parses");
        assert_eq!(call.call_type, "function", "a missing type is \"function\"");
        assert_eq!(
            serde_json::to_string(&call).expect("serializes"),
            r#"{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}"#
        );
        let tool: Tool =
            serde_json::from_str(r#"{"type":"web","function":{"name":"f"}}"#).expect("parses");
        assert_eq!(tool.tool_type, "web");
        assert_eq!(
            serde_json::to_string(&tool).expect("serializes"),
            r#"{"type":"web","function":{"name":"f"}}"#
        );
        // The Rust name is not a wire name: it is an unknown key like any other.
        let delta: ToolCallDelta =
            serde_json::from_str(r#"{"type":"function","call_type":"x"}"#).expect("parses");
        assert_eq!(delta.call_type.as_deref(), Some("function"));
        assert_eq!(delta.extra.get("call_type"), Some(&json!("x")));
        assert_eq!(
            serde_json::to_string(&ToolCallDelta::default()).expect("serializes"),
            r#"{"index":0}"#
        );
    }

    #[test]
    fn a_known_key_twice_is_rejected_and_an_unknown_one_keeps_the_last_value() {
        assert_eq!(
            parse_err::<ChatRequest>(r#"{"model":"m","model":"n","messages":[]}"#),
            "duplicate field `model` at line 1 column 20"
        );
        assert_eq!(
            parse_err::<ToolCall>(r#"{"id":"c","type":"function","type":"x"}"#),
            "duplicate field `type` at line 1 column 34"
        );
        assert_eq!(
            parse_err::<ChunkChoice>(r#"{"index":0,"index":1}"#),
            "duplicate field `index` at line 1 column 18"
        );
        let req: ChatRequest =
            serde_json::from_str(r#"{"model":"m","messages":[],"x":1,"x":{"a":1,"a":2}}"#)
                .expect("parses");
        assert_eq!(req.extra.get("x"), Some(&json!({"a": 2})));
    }

    #[test]
    fn unknown_keys_keep_their_values_as_received() {
        let wire = r#"{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"logprobs":null,"finish_reason":"stop","big":18446744073709551615,"neg":-1,"f":0.5,"nested":{"list":[1,"two",null,{}]}}"#;
        let choice: Choice = serde_json::from_str(wire).expect("parses");
        assert_eq!(choice.extra.get("logprobs"), Some(&Value::Null));
        assert_eq!(choice.message.extra.get("refusal"), Some(&Value::Null));
        assert_eq!(choice.extra.get("big"), Some(&json!(u64::MAX)));
        // Known fields first, in declaration order, then `extra` (a sorted map).
        assert_eq!(
            serde_json::to_string(&choice).expect("serializes"),
            r#"{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"finish_reason":"stop","big":18446744073709551615,"f":0.5,"logprobs":null,"neg":-1,"nested":{"list":[1,"two",null,{}]}}"#
        );
    }

    #[test]
    fn wrong_types_give_serde_json_errors() {
        assert_eq!(
            parse_err::<ChatRequest>(r#"{"model":"m","messages":[],"max_tokens":"x"}"#),
            r#"invalid type: string "x", expected u32 at line 1 column 43"#
        );
        assert_eq!(
            parse_err::<ChatRequest>(r#"{"model":"m","messages":[],"n":-1}"#),
            "invalid value: integer `-1`, expected u32 at line 1 column 33"
        );
        assert_eq!(
            parse_err::<ChatRequest>("[]"),
            "invalid type: sequence, expected struct ChatRequest at line 1 column 0"
        );
        assert_eq!(
            serde_json::from_value::<Usage>(json!({"prompt_tokens": "1"}))
                .expect_err("a string")
                .to_string(),
            r#"invalid type: string "1", expected u64"#
        );
    }

    #[test]
    fn serde_path_to_error_names_the_field() {
        let cases = [
            (
                path_err::<ChatRequest>(r#"{"model":"m","messages":[{"role":5}]}"#),
                (
                    "messages[0].role",
                    "invalid type: integer `5`, expected a string at line 1 column 34",
                ),
            ),
            (
                path_err::<ChatRequest>(
                    r#"{"model":"m","messages":[{"role":"user","content":"x"},{"content":"y"}]}"#,
                ),
                ("messages[1]", "missing field `role` at line 1 column 70"),
            ),
            (
                path_err::<ChatRequest>(
                    r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
                ),
                (
                    "messages[0].content",
                    "invalid type: integer `5`, expected a string or an array of content parts at line 1 column 51",
                ),
            ),
            (
                path_err::<ChatRequest>(
                    r#"{"model":"m","messages":[],"stream_options":{"include_usage":"yes"}}"#,
                ),
                (
                    "stream_options.include_usage",
                    r#"invalid type: string "yes", expected a boolean at line 1 column 66"#,
                ),
            ),
            (
                path_err::<ChatRequest>(
                    r#"{"model":"m","messages":[],"tools":[{"function":{"name":1}}]}"#,
                ),
                (
                    "tools[0].function.name",
                    "invalid type: integer `1`, expected a string at line 1 column 57",
                ),
            ),
            (
                path_err::<ChatRequest>(r#"{"model":"m","model":"n","messages":[]}"#),
                (".", "duplicate field `model` at line 1 column 20"),
            ),
            (
                path_err::<ChatChunk>(r#"{"choices":[{"delta":{"tool_calls":[{"index":"x"}]}}]}"#),
                (
                    "choices[0].delta.tool_calls[0].index",
                    r#"invalid type: string "x", expected u32 at line 1 column 48"#,
                ),
            ),
        ];
        for ((path, message), (want_path, want_message)) in cases {
            assert_eq!((path.as_str(), message.as_str()), (want_path, want_message));
        }
    }

    #[test]
    fn every_kind_of_input_parses_the_same() {
        let wire = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"x":[1]}"#;
        let from_slice: ChatRequest = serde_json::from_slice(wire.as_bytes()).expect("parses");
        let value: Value = serde_json::from_str(wire).expect("parses");
        // An owned `Value` hands out owned keys, a borrowed one borrowed keys, and a reader
        // keys that live only for the call.
        let from_value: ChatRequest = serde_json::from_value(value.clone()).expect("parses");
        let from_ref = ChatRequest::deserialize(&value).expect("parses");
        let from_reader: ChatRequest = serde_json::from_reader(wire.as_bytes()).expect("parses");
        // A key with an escape is read into a buffer too.
        let escaped: ChatRequest = serde_json::from_str(
            r#"{"mod\u0065l":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"\u0078":[1]}"#,
        )
        .expect("parses");
        assert_eq!(from_slice.temperature, Some(0.5));
        assert_eq!(from_slice.extra.get("x"), Some(&json!([1])));
        for other in [from_value, from_ref, from_reader, escaped] {
            assert_eq!(other, from_slice);
        }
    }

    #[test]
    fn content_parts_keep_what_they_do_not_model() {
        let wire = json!([
            {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
            {"type": "image_url", "image_url": {"url": "u", "detail": null, "k": 1}, "z": 2},
            {"type": "image_url", "image_url": "not an object"},
            "not an object"
        ]);
        let content: Content = serde_json::from_value(wire.clone()).expect("parses");
        let Content::Parts(parts) = &content else {
            panic!("parts expected: {content:?}");
        };
        assert!(
            matches!(&parts[0], ContentPart::Text(t) if t.text == "a" && !t.extra.contains_key("type"))
        );
        let ContentPart::ImageUrl(image) = &parts[1] else {
            panic!("an image part expected: {:?}", parts[1]);
        };
        assert_eq!(image.image_url.detail, None);
        assert_eq!(image.extra, Map::from_iter([("z".to_owned(), json!(2))]));
        assert_eq!(parts[2], ContentPart::Other(wire[2].clone()));
        assert_eq!(parts[3], ContentPart::Other(wire[3].clone()));
        let mut back = wire;
        back[1]["image_url"]
            .as_object_mut()
            .expect("an object")
            .remove("detail");
        assert_eq!(serde_json::to_value(&content).expect("serializes"), back);
    }
}
