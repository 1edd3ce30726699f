//! The `Provider` trait: one configured upstream deployment that answers chat completions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use retry_core::ErrorKind;

use crate::{
    CallContext, ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse,
    Message, ProviderError,
};

/// A boxed, `Send` future: what every [`Provider`] method returns, so the trait stays
/// dyn-compatible.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A stream of chat completion chunks, owned (`'static`) so the caller can keep it after
/// the call that produced it returns.
///
/// Items are chunks until the final one; an `Err` item means the stream failed and no
/// more items follow. The stream ends with `None` after the final chunk.
pub type ChunkStream =
    Pin<Box<dyn Stream<Item = Result<ChatChunk, ProviderError>> + Send + 'static>>;

/// A [`ChunkStream`] whose chunks come with the upstream's JSON for them, when a chunk was
/// read from it as it stands (see [`Provider::chat_stream_with_bodies`]).
pub type ChunkBodyStream =
    Pin<Box<dyn Stream<Item = Result<(ChatChunk, Option<Bytes>), ProviderError>> + Send + 'static>>;

/// One configured upstream deployment: an endpoint, a key and a model.
///
/// The router holds providers as `Arc<dyn Provider>` and calls them once per attempt.
/// A provider instance always sends *its own* configured model upstream
/// ([`Provider::model`]), whatever `req.model` says: `req.model` carries the client's
/// model group name, which only the router interprets.
///
/// # Contract
///
/// Every implementation must follow these rules; the `conformance` kit (feature
/// `test-util`) checks them against an upstream you script.
///
/// 1. **Exactly one upstream attempt per call.** Never retry, never sleep before or after
///    an attempt, never fall back to another endpoint: the router does all of that, and
///    it cannot count or bound attempts it does not see. Build HTTP clients with their own
///    retries turned off.
/// 2. **Classify every failure** into a [`ProviderError`]: its [`ErrorKind`], the HTTP
///    status if there was one, the upstream's [`RetryHint`](crate::RetryHint) (headers such as
///    `retry-after`, see [`ProviderError::from_http`]), the provider name, and a short message
///    safe to show to a client — never a key, a token or a URL containing one.
/// 3. **Errors inside a 200 stream before any content** (Anthropic's `event: error`,
///    Azure's content-filter errors) are failures of the attempt: return them as `Err` from
///    [`Provider::chat_stream`], or as the first item of the stream. The router can then
///    still retry or fall back, because nothing has reached the client yet.
/// 4. **Streams end with `None` after the final chunk.** If the upstream stops before its
///    terminal marker (OpenAI's `[DONE]`, Anthropic's `message_stop`), yield an
///    `Err` item of kind [`ErrorKind::Connection`] first: a cut stream must never look
///    like a complete answer.
/// 5. **Dropping cancels.** Dropping the future or the stream must abort the upstream call
///    promptly; never block the executor thread (no blocking I/O, no `std::thread::sleep`).
/// 6. **Timeouts belong to the router**, which wraps each attempt in a tokio timeout from
///    [`CallContext`]. A provider may also hand [`CallContext::time_left`] to its HTTP
///    client; if that fires, report [`ErrorKind::Timeout`].
/// 7. **Malformed answers are errors, never panics**: a body that does not parse is an
///    `Err` (usually [`ErrorKind::InternalServer`]).
///
/// The request decides nothing about streaming: the router calls [`Provider::chat`] or
/// [`Provider::chat_stream`], and the provider ignores `req.stream` in favour of the method
/// it was called through.
pub trait Provider: Send + Sync + 'static {
    /// The provider kind, such as `"openai"`, `"azure"`, `"anthropic"` or `"mock"`; used in
    /// errors, logs and metrics.
    fn name(&self) -> &'static str;

    /// The upstream model this instance calls (sent upstream instead of `req.model`).
    fn model(&self) -> &str;

    /// Makes one non-streaming chat completion attempt.
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>>;

    /// [`Provider::chat`], with the upstream's JSON body when the response was read from it
    /// as it is, so that a gateway can forward the upstream's bytes instead of writing the
    /// response out again.
    ///
    /// A body, when given, must be a JSON chat completion that parses to the same response
    /// (the proxy sends it to its client in place of the response). Providers that translate
    /// (another API's answer made into a chat completion) give none. The default calls
    /// [`Provider::chat`] and gives none.
    fn chat_with_body<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<(ChatResponse, Option<Bytes>), ProviderError>> {
        Box::pin(async move { self.chat(req, ctx).await.map(|response| (response, None)) })
    }

    /// Makes one streaming chat completion attempt.
    ///
    /// The future resolves once the upstream has accepted the request (headers received);
    /// an upstream error status is an `Err` here, not a stream item.
    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>>;

    /// [`Provider::chat_stream`], each chunk with the upstream's JSON for it (the `data` of its
    /// server-sent event) when the chunk was read from it as it stands, so that a gateway can
    /// forward the upstream's bytes instead of writing each chunk out again.
    ///
    /// The same rules as for [`Provider::chat_with_body`]: a body must read as exactly its
    /// chunk; a provider that translates gives none. The default calls
    /// [`Provider::chat_stream`] and gives none.
    fn chat_stream_with_bodies<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkBodyStream, ProviderError>> {
        Box::pin(async move {
            let chunks = self.chat_stream(req, ctx).await?;
            let with_bodies: ChunkBodyStream =
                Box::pin(chunks.map(|item| item.map(|chunk| (chunk, None))));
            Ok(with_bodies)
        })
    }

    /// Makes one embeddings attempt.
    ///
    /// The default answers [`ErrorKind::UnsupportedParams`]: a provider without an
    /// embeddings endpoint need not implement it.
    fn embeddings<'a>(
        &'a self,
        req: &'a EmbeddingsRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        let _ = (req, ctx);
        let name = self.name();
        Box::pin(async move {
            Err(ProviderError::new(
                ErrorKind::UnsupportedParams,
                name,
                format!(
                    "embeddings are not supported by the {name} provider; route embeddings to a provider that has them"
                ),
            ))
        })
    }

    /// Checks that the deployment answers, for the proxy's health endpoint.
    ///
    /// The default makes one tiny chat call (`max_tokens: 1`); providers with a cheaper
    /// probe (a models list) may override it. Like every call, it makes one attempt.
    fn health_check<'a>(
        &'a self,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let mut req = ChatRequest::new(self.model(), vec![Message::user("ping")]);
            req.max_tokens = Some(1);
            self.chat(&req, ctx).await.map(|_| ())
        })
    }
}

/// Shared providers are providers, so `Arc<MyProvider>` can be passed where a `Provider`
/// is expected and also kept by the caller (to read a mock's call counter, say).
impl<P: Provider + ?Sized> Provider for Arc<P> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn model(&self) -> &str {
        (**self).model()
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        (**self).chat(req, ctx)
    }

    fn chat_with_body<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<(ChatResponse, Option<Bytes>), ProviderError>> {
        (**self).chat_with_body(req, ctx)
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        (**self).chat_stream(req, ctx)
    }

    fn chat_stream_with_bodies<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkBodyStream, ProviderError>> {
        (**self).chat_stream_with_bodies(req, ctx)
    }

    fn embeddings<'a>(
        &'a self,
        req: &'a EmbeddingsRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        (**self).embeddings(req, ctx)
    }

    fn health_check<'a>(
        &'a self,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        (**self).health_check(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The router's whole design rests on `Arc<dyn Provider>`: keep the trait dyn-compatible.
    #[test]
    fn provider_is_dyn_compatible_and_shareable() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        fn assert_send<T: Send + 'static>() {}
        assert_send_sync::<Arc<dyn Provider>>();
        assert_send::<ChunkStream>();
    }
}
