"""A request's one Redis round trip: look every item up, and open a job if any is missing.

The LOOKUP_OR_OPEN_JOBS script (contract/lua) does the MGET and, only when something is
missing, writes the job record: one round trip per request whether it is all cached or not,
shared with the other requests of the moment (below).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from contract import lua_scripts
from contract.lua_scripts import Lookup, Script
from gateway.errors import ProblemError
from gateway.model_info import ModelInfo

# Per item its cache entry or None (a miss), and the version the entries are cached by.
Found = tuple[list[bytes | None], str | None]
Pending = tuple[Lookup, "asyncio.Future[Found]"]
# A call finds the version it used is no longer served this many times in a row before its
# requests are refused: a promotion changes it once.
STALE_TRIES = 3


class LookupOrOpen:
    """Runs the lookups of concurrent requests together, one script call per round trip.

    redis-py spends far more CPU on a command than Redis does, and as much on a small one as
    on a large one: the lookups of a batch go as one command. A lookup is sent at once when
    none is in flight; while one is, the next ones gather and travel together when it
    returns, so nobody waits for a timer.
    """

    def __init__(self, redis: Redis, job_timeout_seconds: float, model: ModelInfo) -> None:
        self.job_timeout = repr(float(job_timeout_seconds)).encode()
        self.model = model
        self.script = redis.register_script(lua_scripts.source(Script.LOOKUP_OR_OPEN_JOBS))
        self.pending: list[Pending] = []
        self.flush_task: asyncio.Task[None] | None = None

    async def lookup_or_open(self, lookup: Lookup) -> Found:
        """Each item's cached result (JSON bytes) or None, and the served version they are
        cached by; the job exists iff one is None (and the lookup `may_open`: while the
        store is full, a lookup opens no job)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Found] = loop.create_future()
        self.pending.append((lookup, future))
        # The flush task drains everything appended before it returns (nothing can be
        # appended between its last check and its end: there is no await in between).
        if self.flush_task is None or self.flush_task.done():
            self.flush_task = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                results: list[Any] = await self._run([lookup for lookup, _ in batch])
            except Exception as exc:  # Redis unreachable: every waiter gets the error
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _run(self, lookups: list[Lookup]) -> list[Found]:
        """The call, under the served version: the script refuses any other, and says which
        it is, so a promotion costs the calls in flight one more trip."""
        for _ in range(STALE_TRIES):
            version = self.model.version
            keys, args = lua_scripts.lookup_or_open_jobs(lookups, self.job_timeout, version)
            # redis-py's Script loads the script again when a restarted Redis forgot it.
            reply = lua_scripts.looked_up(await self.script(keys=keys, args=args), lookups)
            if reply.entries is not None:
                return [(entries, version) for entries in reply.entries]
            self.model.serve(reply.served)
        raise ProblemError(
            503,
            "The served model version is changing; try again.",
            headers={"Retry-After": "1"},
        )
