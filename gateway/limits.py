"""Refuses oversized request bodies before they are read whole.

FastAPI's own `max_body_size` (Starlette's RequestBodyLimitMiddleware) replaces any response
to an oversized request with a plain-text 413; ours answers a problem document like every
other error.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import problem_response

# The Open Inference Protocol's routes answer its own error document.
V2_PREFIX = "/v2/"


def _too_large(scope: Scope, detail: str) -> ASGIApp:
    if scope["path"].startswith(V2_PREFIX):
        return JSONResponse({"error": detail}, status_code=413)
    return problem_response(413, detail)


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body reader passes it on instead of answering 400."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"Request body is larger than {self.max_bytes} bytes."
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await _too_large(scope, detail)(scope, receive, send)
                    return
                # The server reads no more than the declared length: nothing left to count.
                await self.app(scope, receive, send)
                return

        # Chunked bodies carry no length up front: count as they arrive.
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(detail)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(scope, detail)(scope, receive, send)
