"""Write the gateway's OpenAPI document, from which the web UI's API types are generated.

`python -m scripts.openapi frontend/openapi.json`, then `npm run gen:api` in frontend/
(`make api-types` runs both). Building the app connects to nothing: only its lifespan does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gateway.app import create_app
from gateway.settings import Settings


def openapi_document() -> dict[str, Any]:
    """The document the gateway serves at /openapi.json, with default settings."""
    return create_app(Settings()).openapi()


def render(document: dict[str, Any]) -> str:
    """Sorted keys and a 2-space indent, so that a change shows as a small diff."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the gateway's OpenAPI document.")
    parser.add_argument("path", type=Path, help="where to write the document")
    args = parser.parse_args()
    args.path.write_text(render(openapi_document()), encoding="utf-8")


if __name__ == "__main__":
    main()
