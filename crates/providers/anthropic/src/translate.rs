//! Translation between the canonical OpenAI-shaped types and Anthropic's Messages API:
//! requests out, complete answers back.

use std::time::{SystemTime, UNIX_EPOCH};

use provider::{
    ChatRequest, ChatResponse, Choice, Content, ContentPart, ErrorKind, FinishReason, ImageUrlPart,
    Message, PromptTokensDetails, ProviderError, Role, ToolCall, Usage,
};
use serde_json::{Map, Value, json};

/// Tokens asked for when the request sets no limit (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// OpenAI parameters Anthropic has no equivalent for. A neutral value (`0`, `false`, `null`)
/// is dropped; anything else is refused with [`ErrorKind::UnsupportedParams`] rather than
/// silently ignored, so the caller knows the answer would not honour it.
const OPENAI_ONLY: [&str; 5] = [
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
];

/// Request fields this module translates itself; everything else in `extra` is forwarded
/// as it is (Anthropic's own `top_k`, `thinking`, `metadata`, `service_tier`, ...).
const TRANSLATED_EXTRA: [&str; 1] = ["parallel_tool_calls"];

/// Builds the Messages API body for `req`, calling `model`.
pub(crate) fn request_body(
    provider: &'static str,
    model: &str,
    req: &ChatRequest,
    stream: bool,
    default_max_tokens: u32,
) -> Result<Value, ProviderError> {
    let bad = |message: String| ProviderError::new(ErrorKind::BadRequest, provider, message);
    let unsupported =
        |message: String| ProviderError::new(ErrorKind::UnsupportedParams, provider, message);

    if let Some(n) = req.n.filter(|n| *n > 1) {
        return Err(unsupported(format!(
            "n={n}: Anthropic returns one choice per request; send n=1"
        )));
    }
    if req.seed.is_some() {
        return Err(unsupported(
            "seed is not supported by Anthropic; remove it".to_owned(),
        ));
    }
    if let Some(format) = &req.response_format
        && format.get("type").and_then(Value::as_str) != Some("text")
    {
        return Err(unsupported(
            "response_format is not supported by the Anthropic provider; ask for JSON in the prompt or use a tool"
                .to_owned(),
        ));
    }
    for key in OPENAI_ONLY {
        if let Some(value) = req.extra.get(key)
            && !is_neutral(value)
        {
            return Err(unsupported(format!(
                "{key} is not supported by Anthropic; remove it"
            )));
        }
    }

    let mut body = Map::new();
    body.insert("model".to_owned(), Value::String(model.to_owned()));

    let (system, messages) = translate_messages(req, &bad, &unsupported)?;
    if let Some(system) = system {
        body.insert("system".to_owned(), system);
    }
    body.insert("messages".to_owned(), Value::Array(messages));

    let max_tokens = req
        .max_completion_tokens
        .or(req.max_tokens)
        .unwrap_or(default_max_tokens);
    body.insert("max_tokens".to_owned(), json!(max_tokens));
    if let Some(t) = req.temperature {
        body.insert("temperature".to_owned(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".to_owned(), json!(p));
    }
    if let Some(stop) = &req.stop {
        body.insert("stop_sequences".to_owned(), json!(stop.to_vec()));
    }
    if let Some(tools) = &req.tools {
        let tools: Vec<Value> = tools.iter().map(translate_tool).collect();
        body.insert("tools".to_owned(), Value::Array(tools));
    }
    let parallel = req
        .extra
        .get("parallel_tool_calls")
        .and_then(Value::as_bool);
    if let Some(choice) = translate_tool_choice(req.tool_choice.as_ref(), parallel, &bad)? {
        body.insert("tool_choice".to_owned(), choice);
    }
    if stream {
        body.insert("stream".to_owned(), Value::Bool(true));
    }
    for (key, value) in &req.extra {
        if OPENAI_ONLY.contains(&key.as_str()) || TRANSLATED_EXTRA.contains(&key.as_str()) {
            continue;
        }
        body.insert(key.clone(), value.clone());
    }
    if let Some(user) = &req.user {
        let metadata = body.entry("metadata").or_insert_with(|| json!({}));
        if let Some(metadata) = metadata.as_object_mut() {
            metadata
                .entry("user_id")
                .or_insert_with(|| Value::String(user.clone()));
        }
    }
    Ok(Value::Object(body))
}

fn is_neutral(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Object(map) => map.is_empty(),
        Value::String(_) | Value::Array(_) => false,
    }
}

type Fail<'a> = &'a dyn Fn(String) -> ProviderError;

/// System and developer messages become the top-level `system`; the rest become turns,
/// consecutive turns of one role merged (Anthropic wants them alternating), tool answers
/// going into user turns as `tool_result` blocks.
fn translate_messages(
    req: &ChatRequest,
    bad: Fail<'_>,
    unsupported: Fail<'_>,
) -> Result<(Option<Value>, Vec<Value>), ProviderError> {
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, message) in req.messages.iter().enumerate() {
        let (role, blocks) = match &message.role {
            Role::System | Role::Developer => {
                let blocks = content_blocks(message.content.as_ref(), i, bad, unsupported)?;
                if blocks
                    .iter()
                    .any(|b| b.get("type").and_then(Value::as_str) != Some("text"))
                {
                    return Err(bad(format!(
                        "messages[{i}]: a system message may only contain text"
                    )));
                }
                system.extend(blocks);
                continue;
            }
            Role::User => (
                "user",
                content_blocks(message.content.as_ref(), i, bad, unsupported)?,
            ),
            Role::Assistant => ("assistant", assistant_blocks(message, i, bad, unsupported)?),
            Role::Tool => (
                "user",
                vec![tool_result_block(message, i, bad, unsupported)?],
            ),
            other => {
                return Err(unsupported(format!(
                    "messages[{i}]: role {:?} is not supported by Anthropic; use system, user, assistant or tool",
                    other.as_str()
                )));
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let system = match system.as_slice() {
        [] => None,
        [only] if plain_text(only).is_some() => {
            plain_text(only).map(|t| Value::String(t.to_owned()))
        }
        _ => Some(Value::Array(system)),
    };
    let messages = turns
        .into_iter()
        .map(|(role, blocks)| {
            let content = match blocks.as_slice() {
                [only] if plain_text(only).is_some() => {
                    plain_text(only).map_or(Value::Null, |t| Value::String(t.to_owned()))
                }
                _ => Value::Array(blocks),
            };
            json!({"role": role, "content": content})
        })
        .collect();
    Ok((system, messages))
}

/// The text of a block that is a bare `{"type": "text", "text": ...}` (no `cache_control`),
/// which may be written as a plain string.
fn plain_text(block: &Value) -> Option<&str> {
    let map = block.as_object()?;
    if map.len() == 2 && map.get("type").and_then(Value::as_str) == Some("text") {
        map.get("text").and_then(Value::as_str)
    } else {
        None
    }
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// User (and system) content as Anthropic blocks; empty text is dropped (Anthropic rejects it).
fn content_blocks(
    content: Option<&Content>,
    i: usize,
    bad: Fail<'_>,
    unsupported: Fail<'_>,
) -> Result<Vec<Value>, ProviderError> {
    match content {
        None => Ok(Vec::new()),
        Some(Content::Text(text)) if text.is_empty() => Ok(Vec::new()),
        Some(Content::Text(text)) => Ok(vec![text_block(text)]),
        Some(Content::Parts(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for part in parts {
                match part {
                    ContentPart::Text(t) if t.text.is_empty() => {}
                    ContentPart::Text(t) => {
                        let mut block = text_block(&t.text);
                        copy_cache_control(&t.extra, &mut block);
                        blocks.push(block);
                    }
                    ContentPart::ImageUrl(image) => blocks.push(image_block(image, i, bad)?),
                    other => {
                        let kind = other.part_type().unwrap_or("untyped");
                        if matches!(kind, "input_audio" | "file" | "untyped") {
                            return Err(unsupported(format!(
                                "messages[{i}]: content parts of type {kind} are not supported by the Anthropic provider"
                            )));
                        }
                        // Anthropic's own block types (`document`, ...) pass through.
                        if let ContentPart::Other(value) = other {
                            blocks.push(value.clone());
                        }
                    }
                }
            }
            Ok(blocks)
        }
    }
}

/// `data:` URLs become base64 sources, `http(s)` URLs become url sources.
fn image_block(image: &ImageUrlPart, i: usize, bad: Fail<'_>) -> Result<Value, ProviderError> {
    let url = image.image_url.url.trim();
    let source = if let Some(data_url) = url.strip_prefix("data:") {
        let (meta, data) = data_url.split_once(',').ok_or_else(|| {
            bad(format!(
                "messages[{i}]: the image data URL has no comma before its data"
            ))
        })?;
        let media_type = meta.strip_suffix(";base64").ok_or_else(|| {
            bad(format!("messages[{i}]: the image data URL must be base64-encoded (data:image/png;base64,...)"))
        })?;
        json!({"type": "base64", "media_type": media_type, "data": data})
    } else if url.starts_with("https://") || url.starts_with("http://") {
        json!({"type": "url", "url": url})
    } else {
        return Err(bad(format!(
            "messages[{i}]: image_url must be an http(s) URL or a base64 data URL"
        )));
    };
    let mut block = json!({"type": "image", "source": source});
    copy_cache_control(&image.extra, &mut block);
    Ok(block)
}

fn copy_cache_control(extra: &Map<String, Value>, block: &mut Value) {
    if let (Some(cache), Some(map)) = (extra.get("cache_control"), block.as_object_mut()) {
        map.insert("cache_control".to_owned(), cache.clone());
    }
}

/// Assistant text, then its tool calls as `tool_use` blocks.
fn assistant_blocks(
    message: &Message,
    i: usize,
    bad: Fail<'_>,
    unsupported: Fail<'_>,
) -> Result<Vec<Value>, ProviderError> {
    let mut blocks = content_blocks(message.content.as_ref(), i, bad, unsupported)?;
    for call in message.tool_calls.iter().flatten() {
        let arguments = call.function.arguments.trim();
        let input = if arguments.is_empty() {
            json!({})
        } else {
            match serde_json::from_str::<Value>(arguments) {
                Ok(value @ Value::Object(_)) => value,
                _ => {
                    return Err(bad(format!(
                        "messages[{i}]: the arguments of tool call {:?} are not a JSON object, which Anthropic requires",
                        call.id
                    )));
                }
            }
        };
        blocks.push(
            json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input}),
        );
    }
    Ok(blocks)
}

/// A `tool` message as a `tool_result` block.
fn tool_result_block(
    message: &Message,
    i: usize,
    bad: Fail<'_>,
    unsupported: Fail<'_>,
) -> Result<Value, ProviderError> {
    let id = message
        .tool_call_id
        .as_deref()
        .ok_or_else(|| bad(format!("messages[{i}]: a tool message needs tool_call_id")))?;
    let mut block = json!({"type": "tool_result", "tool_use_id": id});
    let content = match &message.content {
        None => None,
        Some(Content::Text(text)) => Some(Value::String(text.clone())),
        Some(parts @ Content::Parts(_)) => Some(Value::Array(content_blocks(
            Some(parts),
            i,
            bad,
            unsupported,
        )?)),
    };
    if let (Some(content), Some(map)) = (content, block.as_object_mut()) {
        map.insert("content".to_owned(), content);
    }
    Ok(block)
}

/// A function tool as `{name, description, input_schema}`; other tool types (Anthropic's
/// server tools) pass through as sent.
fn translate_tool(tool: &provider::Tool) -> Value {
    if tool.tool_type != "function" {
        return serde_json::to_value(tool).unwrap_or(Value::Null);
    }
    let function = &tool.function;
    let schema = function
        .parameters
        .clone()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    let mut out = json!({"name": function.name, "input_schema": schema});
    if let (Some(description), Some(map)) = (&function.description, out.as_object_mut()) {
        map.insert("description".to_owned(), Value::String(description.clone()));
    }
    copy_cache_control(&tool.extra, &mut out);
    out
}

/// OpenAI's `tool_choice` (and `parallel_tool_calls: false`) as Anthropic's `tool_choice`.
fn translate_tool_choice(
    choice: Option<&Value>,
    parallel: Option<bool>,
    bad: Fail<'_>,
) -> Result<Option<Value>, ProviderError> {
    let mut out = match choice {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" | "any" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            other => {
                return Err(bad(format!(
                    "tool_choice {other:?} is not one of auto, required, none"
                )));
            }
        }),
        Some(Value::Object(map)) => {
            let kind = map.get("type").and_then(Value::as_str);
            let function_name = map
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            match (kind, function_name) {
                (Some("function"), Some(name)) => Some(json!({"type": "tool", "name": name})),
                // Already in Anthropic's shape.
                (Some("auto" | "any" | "tool" | "none"), _) => Some(Value::Object(map.clone())),
                _ => return Err(bad("tool_choice must name a function: {\"type\": \"function\", \"function\": {\"name\": ...}}".to_owned())),
            }
        }
        Some(_) => return Err(bad("tool_choice must be a string or an object".to_owned())),
    };
    if parallel == Some(false) {
        let choice = out.get_or_insert_with(|| json!({"type": "auto"}));
        if choice.get("type").and_then(Value::as_str) != Some("none")
            && let Some(map) = choice.as_object_mut()
        {
            map.insert("disable_parallel_tool_use".to_owned(), Value::Bool(true));
        }
    }
    Ok(out)
}

/// Anthropic's `stop_reason` as an OpenAI finish reason.
pub(crate) fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" | "stop_sequence" | "pause_turn" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Anthropic's usage as OpenAI's: cached and cache-writing input tokens count as prompt
/// tokens (OpenAI's `prompt_tokens` includes cached ones); the raw cache counts are kept.
pub(crate) fn usage(raw: &Value) -> Usage {
    let count = |key: &str| raw.get(key).and_then(Value::as_u64).unwrap_or(0);
    let cache_read = count("cache_read_input_tokens");
    let cache_creation = count("cache_creation_input_tokens");
    let prompt = count("input_tokens")
        .saturating_add(cache_read)
        .saturating_add(cache_creation);
    let mut usage = Usage::new(prompt, count("output_tokens"));
    let mut details = PromptTokensDetails::default();
    details.cached_tokens = Some(cache_read);
    usage.prompt_tokens_details = Some(details);
    for key in ["cache_read_input_tokens", "cache_creation_input_tokens"] {
        if let Some(value) = raw.get(key).filter(|v| v.is_number()) {
            usage.extra.insert(key.to_owned(), value.clone());
        }
    }
    usage
}

/// Parses a `200` Messages answer into a chat completion.
///
/// Garbage is [`ErrorKind::InternalServer`]; an error object (`{"type": "error", ...}`) is
/// classified from its body; a refusal with no content is
/// [`ErrorKind::ContentPolicyViolation`], as for OpenAI's content filter.
pub(crate) fn parse_response(
    provider: &'static str,
    bytes: &[u8],
) -> Result<ChatResponse, ProviderError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let head = bytes.iter().find(|b| !b.is_ascii_whitespace());
        let shape = match head {
            None => "an empty body".to_owned(),
            Some(b'<') => "an HTML page".to_owned(),
            Some(_) if e.is_eof() => format!("truncated JSON ({e})"),
            Some(_) => format!("invalid JSON ({e})"),
        };
        ProviderError::new(
            ErrorKind::InternalServer,
            provider,
            format!("the upstream answered 200 with {shape} instead of a message"),
        )
        .with_source(e)
    })?;
    if value.get("type").and_then(Value::as_str) == Some("error")
        || value.get("error").is_some_and(|e| e.is_object())
    {
        return Err(ProviderError::from_stream_error(
            provider,
            &String::from_utf8_lossy(bytes),
        ));
    }
    let not_a_message = |why: &str| {
        ProviderError::new(
            ErrorKind::InternalServer,
            provider,
            format!("the upstream answered 200 with JSON that is not a message ({why})"),
        )
    };
    let blocks = value
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| not_a_message("no content list"))?;
    let id = value.get("id").and_then(Value::as_str).unwrap_or_default();
    let model = value
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();

    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Some("thinking") => reasoning.push_str(
                block
                    .get("thinking")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Some("tool_use") => {
                let id = block.get("id").and_then(Value::as_str).unwrap_or_default();
                let name = block
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| not_a_message("a tool_use block without a name"))?;
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(ToolCall::function(id, name, input.to_string()));
            }
            _ => {}
        }
    }
    let mut message = Message::assistant(text.as_str());
    if text.is_empty() && !calls.is_empty() {
        message.content = None;
    }
    if !calls.is_empty() {
        message.tool_calls = Some(calls);
    }
    if !reasoning.is_empty() {
        message
            .extra
            .insert("reasoning_content".to_owned(), Value::String(reasoning));
    }
    let finish = value
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(finish_reason);
    if finish == Some(FinishReason::ContentFilter)
        && text.is_empty()
        && message.tool_calls.is_none()
    {
        return Err(ProviderError::new(
            ErrorKind::ContentPolicyViolation,
            provider,
            "the model refused to answer (stop_reason refusal, no content)",
        ));
    }
    let mut response =
        ChatResponse::new(id, model, unix_now(), vec![Choice::new(0, message, finish)]);
    response.usage = value.get("usage").map(usage);
    Ok(response)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
        assert_eq!(finish_reason("stop_sequence"), FinishReason::Stop);
        assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
        assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
        assert_eq!(finish_reason("refusal"), FinishReason::ContentFilter);
        assert_eq!(
            finish_reason("new_reason"),
            FinishReason::Other("new_reason".to_owned())
        );
    }

    #[test]
    fn usage_counts_cached_input_as_prompt() {
        let u = usage(
            &json!({"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 7}),
        );
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (115, 7, 122)
        );
        let cached = u.prompt_tokens_details.and_then(|d| d.cached_tokens);
        assert_eq!(cached, Some(100));
    }

    #[test]
    fn tool_choice_mapping() {
        let bad = |m: String| ProviderError::new(ErrorKind::BadRequest, "anthropic", m);
        let t = |v: Value, parallel| {
            translate_tool_choice(Some(&v), parallel, &bad)
                .ok()
                .flatten()
        };
        assert_eq!(t(json!("auto"), None), Some(json!({"type": "auto"})));
        assert_eq!(t(json!("required"), None), Some(json!({"type": "any"})));
        assert_eq!(t(json!("none"), Some(false)), Some(json!({"type": "none"})));
        assert_eq!(
            t(
                json!({"type": "function", "function": {"name": "f"}}),
                Some(false)
            ),
            Some(json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true}))
        );
        assert_eq!(
            translate_tool_choice(None, Some(false), &bad)
                .ok()
                .flatten(),
            Some(json!({"type": "auto", "disable_parallel_tool_use": true}))
        );
        assert!(translate_tool_choice(Some(&json!("sometimes")), None, &bad).is_err());
    }
}
