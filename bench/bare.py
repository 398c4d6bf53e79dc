"""The reference: an async FastAPI route that parses the same body and returns a constant.

Served exactly like the gateway (uvicorn, uvloop, httptools, no access log), so the ratio of
a scenario to this one is the cost of everything irisq adds to parsing a request.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from contract.http import PredictionRequest


def create_bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    async def predict(body: PredictionRequest) -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_bare_app(),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
