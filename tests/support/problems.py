"""What every error body must be: a problem document that gives nothing internal away."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import httpx

# Stack traces, source paths, interpreter internals, addresses and connection strings.
INTERNALS = re.compile(
    r"Traceback|File \"|\.py\b|site-packages|/work/|/tmp/|/home/|/usr/|/opt/|/etc/|/proc/"
    r"|127\.0\.0\.1|0\.0\.0\.0|localhost|redis://|::1|line \d+|Error\(|0x[0-9a-f]{6,}",
    re.IGNORECASE,
)


def internals_in(text: str, secrets: Iterable[str] = ()) -> list[str]:
    """What `text` leaks: internal-looking fragments and any of the given secrets."""
    found = INTERNALS.findall(text)
    found += [secret for secret in secrets if secret and secret in text]
    return found


def assert_safe_problem(
    response: httpx.Response, status: int | None = None, secrets: Iterable[str] = ()
) -> dict[str, Any]:
    """A problem document (RFC 9457) with the status it claims, and no internals in it; its body."""
    context = f"{response.request.method} {response.request.url.path[:80]} -> {response.text[:300]}"
    if status is not None:
        assert response.status_code == status, context
    assert 400 <= response.status_code < 600, context
    assert response.headers["content-type"].startswith("application/problem+json"), context
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), context
    assert body["status"] == response.status_code, context
    assert isinstance(body["detail"], str), context
    assert body["detail"], context
    leaks = internals_in(response.text, secrets)
    assert not leaks, f"{context}: leaks {leaks}"
    return body
