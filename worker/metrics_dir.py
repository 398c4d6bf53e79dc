"""The directory where a worker's pool processes keep their Prometheus metric files.

Kept apart from worker.metrics because it must run before prometheus_client is imported:
the library chooses in-memory or file-backed values once, at import, from
PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from worker.settings import WorkerSettings

log = logging.getLogger("irisq.metrics")

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir(settings: WorkerSettings) -> Path | None:
    """Point PROMETHEUS_MULTIPROC_DIR at an empty directory of this worker's own.

    PROMETHEUS_MULTIPROC_DIR, when set, is emptied (files of an earlier run would be summed
    into this one's counts); otherwise a temporary directory is made and removed at exit.
    Returns None when metrics are off and no directory was asked for.
    """
    if "prometheus_client" in sys.modules:
        # Too late: the values already live in memory, and the pool's counts would be lost.
        raise RuntimeError("prepare_metrics_dir must run before prometheus_client is imported")
    directory = settings.prometheus_multiproc_dir
    if directory is None:
        if settings.worker_metrics_port == 0:
            return None
        directory = Path(tempfile.mkdtemp(prefix="irisq-worker-metrics-"))
        atexit.register(_remove, directory, os.getpid())
    else:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    os.environ[ENV_VAR] = str(directory)
    return directory


def _remove(directory: Path, owner_pid: int) -> None:
    # Forked children inherit the atexit list; only the process that made it removes it.
    if os.getpid() == owner_pid:
        shutil.rmtree(directory, ignore_errors=True)
