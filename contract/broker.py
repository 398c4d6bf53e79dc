"""How both services talk to the broker: kombu's Redis transport and an orjson task body.

The predict task's body is orjson: kombu's json is the standard library's, whose float
formatting is a large share of the gateway's cost on 100-item requests. Everything else
Celery sends (events, control messages) stays json.

The gateway publishes bodies as they are, not base64 (kombu's Redis transport's default): a
body carries a job's rows already base64, and a message says its own encoding, so the worker
reads either form.
"""

from __future__ import annotations

import orjson
from kombu.serialization import registry

# The Celery queue both apps use; kombu's Redis transport keeps it as a list of this name.
TASK_QUEUE = "celery"
TASK_SERIALIZER = "irisq-orjson"
TASK_CONTENT_TYPE = "application/x-irisq-orjson"
# kombu's transport option for the messages a connection publishes; None: the body as it is.
PUBLISHED_BODY_ENCODING: dict[str, str | None] = {"body_encoding": None}


def register_task_serializer() -> None:
    """Make TASK_SERIALIZER known to kombu (idempotent); both apps call it when built."""
    registry.register(  # type: ignore[no-untyped-call]
        TASK_SERIALIZER,
        orjson.dumps,
        orjson.loads,
        content_type=TASK_CONTENT_TYPE,
        content_encoding="binary",
    )
