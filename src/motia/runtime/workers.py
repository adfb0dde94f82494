"""`motia run --workers N`: the steps run in N child processes, each a remote worker (`motia run --engine`) of
the app's embedded engine over a private worker port (loopback, a fresh token per start). The engine stays in
this process, so HTTP, state, queues and streams are unchanged; a call goes to the child with the fewest
calls in flight (the engine's replica choice).

The pool supervises the children: one that exits while the app runs (a crash, a kill) is started again, after
a back-off that grows while it keeps failing. Stopping the app stops every child gracefully (it unregisters,
finishes its running handlers, then leaves) before the engine stops. The children run in a session of their
own, so a terminal's Ctrl-C reaches only this process, which stops them in that order. Each child watches its
stdin, a pipe from this process: if this process is gone (even killed), the pipe closes and the child leaves,
so no worker outlives its app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .._backoff import ReconnectPolicy

log = logging.getLogger("motia")

# Set in a child's environment: its stdin is the pipe from the app that started it (see `parent_watch`).
CHILD_ENV = "MOTIA_WORKER_CHILD"
# A child that ran this long before it exited was healthy: the next restart starts the back-off over.
_HEALTHY_AFTER = 10.0
_RESTART = ReconnectPolicy(initial_delay=0.5, max_delay=10.0)


class WorkersFailed(RuntimeError):
    """The worker processes of `--workers N` could not start (one exited first, or they never registered)."""


class WorkerPool:
    """N `motia run --engine URL` children of this process, kept running while the app runs."""

    def __init__(self, count: int, run_args: Sequence[str] = (), *, cwd: Path | None = None,
                 stop_timeout: float = 10.0) -> None:
        if count < 2:
            raise ValueError(f"a worker pool has 2 or more processes, not {count}")
        self.count = count
        self.run_args = list(run_args)  # `motia run` options of a child besides the engine (--dir, --timeout, ...)
        self.cwd = cwd
        # Seconds a child gets to finish its running handlers once asked to stop; then it is killed.
        self.stop_timeout = stop_timeout
        self.processes: list[asyncio.subprocess.Process | None] = [None] * count
        self.restarts = 0
        self._env: dict[str, str] = {}
        self._stopping = False
        self._supervisors: list[asyncio.Task[None]] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p is not None and p.returncode is None]

    async def start(self, url: str, token: str, registered: Callable[[int], bool], timeout: float = 60.0) -> None:
        """Start the children as workers of the engine at `url` and return once each has registered its steps
        (`registered(pid)`); a child that exits first, or `timeout`, is an error."""
        self._env = {**os.environ, "III_URL": url, "III_TOKEN": token, CHILD_ENV: "1"}
        for slot in range(self.count):
            self.processes[slot] = await self._spawn()
        deadline = time.monotonic() + timeout
        while not all(p is not None and registered(p.pid) for p in self.processes):
            for process in self.processes:
                if process is not None and process.returncode is not None:
                    await self.stop()
                    raise WorkersFailed(f"worker process {process.pid} exited with {process.returncode} before it "
                                        "registered its steps (its error is above)")
            if time.monotonic() > deadline:
                await self.stop()
                raise WorkersFailed(f"the worker processes did not register within {timeout:.0f}s")
            await asyncio.sleep(0.02)
        self._supervisors = [asyncio.get_running_loop().create_task(self._supervise(slot))
                             for slot in range(self.count)]
        log.info("%d worker processes run the steps (pids %s)", self.count, ", ".join(map(str, self.pids)))

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "motia.cli", "run", *self.run_args, cwd=self.cwd, env=self._env,
            stdin=asyncio.subprocess.PIPE, start_new_session=True,
        )

    async def _supervise(self, slot: int) -> None:
        """Start the child of `slot` again whenever it exits while the app runs."""
        attempt = 0
        started = time.monotonic()
        while True:
            process = self.processes[slot]
            assert process is not None
            code = await process.wait()
            if self._stopping:
                return
            if time.monotonic() - started >= _HEALTHY_AFTER:
                attempt = 0
            delay = _RESTART.delay(attempt)
            attempt += 1
            log.warning("worker process %d exited with %s; starting another in %.1fs", process.pid, code, delay)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            self.processes[slot] = await self._spawn()
            self.restarts += 1
            started = time.monotonic()

    async def stop(self) -> None:
        """Ask every child to leave (SIGTERM: it finishes its running handlers), wait, kill what is left."""
        self._stopping = True
        for task in self._supervisors:
            task.cancel()
        await asyncio.gather(*self._supervisors, return_exceptions=True)
        self._supervisors = []
        running = [p for p in self.processes if p is not None and p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if running:
            _, left = await asyncio.wait([asyncio.ensure_future(p.wait()) for p in running],
                                            timeout=self.stop_timeout + 5)
            for process in running:
                if process.returncode is None:
                    log.warning("worker process %d did not stop in time; killing it", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            if left:
                await asyncio.gather(*left, return_exceptions=True)
        for slot in self.processes:
            if slot is not None and slot.stdin is not None:
                slot.stdin.close()
        self.processes = [None] * self.count


@contextlib.contextmanager
def parent_watch(stop: asyncio.Event) -> Iterator[None]:
    """In a pool's child: set `stop` when the app that started it is gone (its pipe on our stdin closes).
    Elsewhere, nothing."""
    if os.environ.get(CHILD_ENV) != "1":
        yield
        return
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    loop.add_reader(fd, readable)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(fd)
