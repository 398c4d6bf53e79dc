"""`python -m worker [celery worker options]`: the one command that starts a worker.

The options that make the queue safe live in the Celery app; these are the process ones:
events on (the exporter counts tasks), no mingle/gossip (nothing to sync between workers).
"""

from __future__ import annotations

import sys

from worker.celery_app import app

DEFAULT_ARGS = ["worker", "-P", "prefork", "-E", "--without-mingle", "--without-gossip"]


def main() -> None:
    settings = app.conf.irisq_settings
    app.worker_main(
        argv=[
            *DEFAULT_ARGS,
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
