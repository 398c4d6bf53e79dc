"""`make run`: the whole system on this machine, no Docker. Ctrl-C stops what it started."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from gateway.settings import Settings
from scripts.frontend import DEFAULT_PORT as FRONTEND_PORT
from scripts.frontend import frontend_built, start_frontend
from scripts.monitoring import start_exporter, start_prometheus
from scripts.stack import ROOT, LocalStack, redis_answers

EXPORTER_PORT = 9808
PROMETHEUS_PORT = 9090

log = logging.getLogger("irisq.run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    settings = Settings()  # the gateway's own view of REDIS_URL / REDIS_HOST:REDIS_PORT, API_PORT
    model_dir = Path(os.environ.get("MODEL_DIR", ROOT / "model"))
    stack = LocalStack(
        workdir=ROOT / ".run",
        redis_port=settings.redis_port,
        api_port=settings.api_port,
        model_dir=model_dir,
        redis_url=settings.redis_dsn,
    )

    def stop(signum: int, _: FrameType | None) -> None:
        # Once: a second signal (Ctrl-C twice, or a wrapper forwarding it) must not cut the
        # clean-up short and leave services running.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    # Installed for SIGINT too: a shell starting us in the background would have it ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        stack.train_if_missing()
        if redis_answers(settings.redis_dsn):
            log.info("using the Redis that answers at %s", settings.redis_host_port)
        elif settings.redis_url or settings.redis_host not in ("127.0.0.1", "localhost"):
            sys.exit(f"no Redis answers at {settings.redis_host_port}; start it or unset REDIS_URL")
        elif shutil.which("redis-server") is None:
            sys.exit("redis-server is not installed: apt-get install -y redis-server")
        else:
            stack.start_redis()
            log.info("started redis-server on 127.0.0.1:%d", settings.redis_port)
        for _ in range(args.workers):
            stack.start_worker()
        stack.start_gateway()
        start_exporter(stack, EXPORTER_PORT)
        monitoring = "".join(
            f"  {s.name:9} http://127.0.0.1:{s.env['WORKER_METRICS_PORT']}/metrics\n"
            for s in stack.services
            if s.name.startswith("worker")
        )
        monitoring += f"  exporter  http://127.0.0.1:{EXPORTER_PORT}/metrics\n"
        if shutil.which("prometheus"):
            start_prometheus(stack, PROMETHEUS_PORT, EXPORTER_PORT)
            monitoring += f"  Prometheus http://127.0.0.1:{PROMETHEUS_PORT}\n"
        else:
            monitoring += "  Prometheus not installed (apt-get install prometheus)\n"
        ui = "  UI        not built: make frontend-build\n"
        if frontend_built():
            start_frontend(stack, FRONTEND_PORT)
            ui = f"  UI        http://127.0.0.1:{FRONTEND_PORT}\n"
        print(
            f"\nirisq is running ({args.workers} workers); logs in {stack.workdir / 'logs'}\n"
            f"{ui}"
            f"  API       {stack.base_url}\n"
            f"  API docs  {stack.base_url}/docs\n"
            f"  metrics   {stack.base_url}/metrics\n"
            f"{monitoring}"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        while all(s.alive() for s in stack.services):
            time.sleep(1)
        dead = [s.name for s in stack.services if not s.alive()]
        log.error("stopped because %s exited; see its log", ", ".join(dead))
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping")
        stack.stop_all()


if __name__ == "__main__":
    main()
