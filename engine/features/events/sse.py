"""Server-sent events on the wire (https://html.spec.whatwg.org/multipage/server-sent-events.html).

The server side needs only comments; events are framed once in payload.Event.sse. `messages`
is the client side: it reads an aiohttp response body (a StreamReader) into messages, for tests
and for Python programs consuming the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import StreamReader

CONTENT_TYPE = "text/event-stream"


def comment(text: str) -> bytes:
    """A comment line: ignored by clients, it keeps proxies and load balancers from timing out."""
    return b": " + text.replace("\n", " ").encode() + b"\n\n"


def retry(milliseconds: int) -> bytes:
    """How long a browser's EventSource waits before it reconnects."""
    return b"retry: %d\n\n" % milliseconds


@dataclass(frozen=True)
class Message:
    event: str = "message"
    data: str = ""
    id: str | None = None
    comment: str | None = None  # set (and the rest empty) for a comment line


async def messages(content: StreamReader) -> AsyncIterator[Message]:
    """Messages and comments in arrival order; an unfinished message at the end is dropped."""
    fields: dict[str, list[str]] = {}
    async for raw in content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if "data" in fields:  # a block without data (only retry:, say) dispatches nothing
                yield Message(
                    event=fields.get("event", ["message"])[-1],
                    data="\n".join(fields.get("data", [])),
                    id=fields.get("id", [None])[-1],
                )
            fields = {}
            continue
        if line.startswith(":"):
            yield Message(comment=line[1:].strip())
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
