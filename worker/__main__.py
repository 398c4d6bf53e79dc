"""`python -m worker [celery worker options]`: the one command that starts a worker.

The options that make the queue safe live in the Celery app; these are the process ones:
events on (the exporter counts tasks), no mingle/gossip (nothing to sync between workers).
"""

from __future__ import annotations

import sys

from worker.metrics_dir import prepare_metrics_dir
from worker.settings import WorkerSettings

DEFAULT_ARGS = ["worker", "-E", "--without-mingle", "--without-gossip"]


def main() -> None:
    # Before the app (and so prometheus_client) is imported: the pool children count in files.
    prepare_metrics_dir(WorkerSettings())
    from worker.celery_app import app

    settings = app.conf.irisq_settings
    app.worker_main(
        argv=[
            *DEFAULT_ARGS,
            "-P",
            settings.worker_pool,
            "-c",
            str(settings.worker_concurrency),
            "-n",
            settings.worker_name,
            "-l",
            settings.log_level.upper(),
            *sys.argv[1:],
        ]
    )


if __name__ == "__main__":
    main()
