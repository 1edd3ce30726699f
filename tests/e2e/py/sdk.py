"""Drives the official OpenAI Python SDK against a running Switchyard proxy.

Usage: python sdk.py BASE_URL API_KEY CALLS_JSON

CALLS_JSON is a list of calls made in order with one client (max_retries=0, so every retry
seen is the proxy's). Each call is an object with "op" and its arguments:

  {"op": "chat", "model": "gpt-4o", "content": "hi", "stream": false, "kwargs": {...}}
  {"op": "embeddings", "model": "embed", "input": "hello"}
  {"op": "models"}

"kwargs" go to the SDK call as they are (extra_body, extra_headers, max_tokens, ...);
"api_key", when present, replaces the client's key for that call.
Prints one JSON list on stdout, one result per call:

  success: {"ok": true, "content", "finish_reason", "headers", ...}
  error:   {"ok": false, "exception": "<SDK exception class>", "status", "code", "type",
            "param", "message", "headers"}

A streamed chat whose stream breaks after it started is a success with "stream_error" set
to the exception the SDK raised while iterating, and "content" the text received before it.
"""

import json
import sys
import time

import openai


def lower_headers(headers):
    return {k.lower(): v for k, v in headers.items()}


def chat(client, call):
    raw = client.chat.completions.with_raw_response.create(
        model=call["model"],
        messages=call.get("messages") or [{"role": "user", "content": call.get("content", "hi")}],
        stream=call.get("stream", False),
        **call.get("kwargs", {}),
    )
    out = {"headers": lower_headers(raw.headers), "status": raw.status_code}
    parsed = raw.parse()
    if not call.get("stream", False):
        choice = parsed.choices[0]
        out.update(
            content=choice.message.content,
            finish_reason=choice.finish_reason,
            model=parsed.model,
            total_tokens=parsed.usage.total_tokens if parsed.usage else None,
        )
        return out
    parts, finish, chunks = [], None, 0
    try:
        for chunk in parsed:
            chunks += 1
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    parts.append(choice.delta.content)
                if choice.finish_reason:
                    finish = choice.finish_reason
    except openai.APIError as e:
        out["stream_error"] = {"exception": type(e).__name__, "message": e.message}
    out.update(content="".join(parts), finish_reason=finish, chunks=chunks)
    return out


def embeddings(client, call):
    raw = client.embeddings.with_raw_response.create(
        model=call["model"], input=call.get("input", "hello"), **call.get("kwargs", {})
    )
    parsed = raw.parse()
    return {
        "headers": lower_headers(raw.headers),
        "count": len(parsed.data),
        "dimensions": len(parsed.data[0].embedding) if parsed.data else 0,
    }


def models(client, call):
    return {"ids": [m.id for m in client.models.list()]}


OPS = {"chat": chat, "embeddings": embeddings, "models": models}


def run(client, call):
    started = time.monotonic()
    if "api_key" in call:
        client = client.with_options(api_key=call["api_key"])
    try:
        out = OPS[call["op"]](client, call)
        out["ok"] = True
    except openai.APIStatusError as e:
        out = {
            "ok": False,
            "exception": type(e).__name__,
            "status": e.status_code,
            "code": e.code,
            "type": e.type,
            "param": e.param,
            "message": e.message,
            "headers": lower_headers(e.response.headers),
        }
    except openai.APIError as e:
        # Client-side timeouts and connection errors: no HTTP status.
        out = {"ok": False, "exception": type(e).__name__, "message": e.message}
    out["elapsed"] = time.monotonic() - started
    return out


def main():
    base_url, api_key, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30.0)
    json.dump([run(client, call) for call in calls], sys.stdout)


if __name__ == "__main__":
    main()
