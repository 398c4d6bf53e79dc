"""The reference: an async FastAPI route that parses the same body and returns a constant.

Served exactly like the gateway (uvicorn, uvloop, httptools, no access log), so the ratio of
a scenario to this one is the cost of everything irisq adds to parsing a request.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI

from contract.http import PredictionRequest


def create_bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    async def predict(body: PredictionRequest) -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve(app: Any, port: int) -> None:
    """Serve a bench server as the gateway is served: uvicorn, uvloop, httptools."""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(create_bare_app(), args.port)


if __name__ == "__main__":
    main()
