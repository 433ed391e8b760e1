"""An engine in its own process, so the rollout worker's Python work does not share its GIL.

A rollout worker runs, in one process, the agent loops of every episode in flight (chat rendering, tool-call
parsing, the env steps' Python code) and the engine's token-by-token decode loop. They contend for one GIL: a
Python thread busy 30% of the time doubled the transformers engine's decode step (9.4 ms -> 19.5 ms,
docs/performance.md). `EngineProcess` runs the engine in a child process, the way vLLM's AsyncLLM runs its
engine core, and keeps the same async API (`generate`, `update_weights`, `get_stats`, `close`), so the worker
cannot tell the difference.

The child is `python -m rollout.engines.engine_process FD`, with one end of a socket pair as its
`multiprocessing` connection. It builds the engine from a spec (the first message), then serves requests
concurrently on its own asyncio loop: each request is a task there, so the engine batches across them as it
would in the worker. Weights travel as one `torch.save` buffer. When the worker dies its end of the socket
closes and the child exits; when the child dies every waiting request fails with its exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import pickle
import socket
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch

from rollout.engines.base import Engine, Generation, GenParams, Weights, weight_items

ROOT = Path(__file__).resolve().parents[2]


class EngineProcessError(RuntimeError):
    """The engine process failed to start or exited while requests were waiting."""


@dataclass(frozen=True)
class EngineSpec:
    """What the child needs to build the engine (see `rollout.engines.select.build_engine`)."""

    name: str
    """'transformers' or 'vllm'."""
    path: str
    """Checkpoint directory."""
    rollout: dict[str, Any]
    """The rollout config section, as a dict."""
    dtype: str = "float32"
    seed: int = 0


class EngineProcess(Engine):
    """An engine served from a child process, behind the `Engine` API."""

    def __init__(self, spec: EngineSpec, start_timeout_s: float = 600.0):
        super().__init__()
        self.name = spec.name
        parent, child = socket.socketpair()
        path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rollout.engines.engine_process", str(child.fileno())],
            pass_fds=[child.fileno()],
            env=env,
        )
        child.close()
        self._conn = Connection(parent.detach())
        self._send_lock = threading.Lock()
        self._ids = itertools.count()
        self._waiting: dict[int, tuple[asyncio.Future, asyncio.AbstractEventLoop]] = {}
        self._waiting_lock = threading.Lock()
        self._closed = False
        self._exit_code: int | None = None
        self._send(("spec", spec))
        if not self._conn.poll(start_timeout_s):
            self.proc.kill()
            raise EngineProcessError(f"the {spec.name} engine process did not start within {start_timeout_s:.0f} s")
        try:
            reply = self._conn.recv()
        except EOFError:
            reply = ("failed", "")
        if reply[0] != "ready":
            self.proc.wait(timeout=30)
            raise EngineProcessError(
                f"the {spec.name} engine process failed to build {spec.path} (exit code {self.proc.returncode}):"
                f"\n{reply[1]}"
            )
        self._reader = threading.Thread(target=self._read, name=f"{spec.name}-engine-reader", daemon=True)
        self._reader.start()

    # ---- worker side ----

    def _send(self, msg: tuple) -> None:
        with self._send_lock:
            self._conn.send(msg)

    async def _call(self, op: str, *args: Any) -> Any:
        if self._closed:
            raise EngineProcessError(f"the {self.name} engine process is closed")
        loop = asyncio.get_running_loop()
        rid = next(self._ids)
        future = loop.create_future()
        with self._waiting_lock:
            self._waiting[rid] = (future, loop)
        try:
            try:
                if self._exit_code is None:  # checked after registering, so the reader fails it or we do
                    self._send((op, rid, args))
            except OSError:
                self._exit_code = self.proc.wait(timeout=10)
            if self._exit_code is not None:
                raise EngineProcessError(f"the {self.name} engine process exited (code {self._exit_code})")
            return await future
        except asyncio.CancelledError:
            if not self._closed and self._exit_code is None:
                with contextlib.suppress(OSError):  # the child died meanwhile: nothing to cancel
                    self._send(("cancel", rid, ()))
            raise
        finally:
            with self._waiting_lock:
                self._waiting.pop(rid, None)

    def _read(self) -> None:
        """Hand each reply to the coroutine waiting for it; on EOF fail every waiting request."""
        while True:
            try:
                kind, rid, value = self._conn.recv()
            except (EOFError, OSError):
                break
            with self._waiting_lock:
                entry = self._waiting.get(rid)
            if entry is not None:
                entry[1].call_soon_threadsafe(_settle, entry[0], kind, value)
        self._exit_code = code = self.proc.wait()
        error = EngineProcessError(f"the {self.name} engine process exited (code {code})")
        with self._waiting_lock:
            entries = list(self._waiting.values())
        for future, loop in entries:
            loop.call_soon_threadsafe(_settle, future, "error", error)

    async def generate(self, prompt_ids: list[int], params: GenParams) -> Generation:  # noqa: D102 (Engine API)
        return await self._call("generate", prompt_ids, params)  # pickled as sent; the child's engine copies it

    async def update_weights(self, weights: Weights, version: int) -> None:  # noqa: D102 (Engine API)
        buf = io.BytesIO()
        torch.save([(n, t.detach().cpu()) for n, t in weight_items(weights)], buf)
        self.version = await self._call("update_weights", buf.getvalue(), int(version))

    async def get_stats(self) -> dict[str, float]:  # noqa: D102 (Engine API)
        return await self._call("stats")

    def close(self) -> None:
        """Ask the child to stop, and kill it if it has not within 10 s."""
        if self._closed:
            return
        self._closed = True
        try:
            self._send(("close", -1, ()))
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self._conn.close()


def _settle(future: asyncio.Future, kind: str, value: Any) -> None:
    if future.done():
        return
    if kind == "ok":
        future.set_result(value)
    else:
        future.set_exception(value)


# ---- child side ----


def _picklable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def serve(conn: Connection) -> None:
    """Build the engine from the first message, then serve requests until 'close' or EOF."""
    from rollout.engines.select import build_engine

    _, spec = conn.recv()
    try:
        engine = build_engine(spec.name, spec.path, spec.rollout, dtype=spec.dtype, seed=spec.seed)
    except BaseException:
        conn.send(("failed", traceback.format_exc()))
        return
    conn.send(("ready", engine.name))
    loop = asyncio.new_event_loop()
    tasks: dict[int, asyncio.Task] = {}

    async def handle(rid: int, op: str, args: tuple) -> None:
        try:
            if op == "generate":
                result: Any = await engine.generate(*args)
            elif op == "update_weights":
                items = torch.load(io.BytesIO(args[0]), weights_only=True)
                await engine.update_weights(items, args[1])
                result = engine.version
            elif op == "stats":
                result = await engine.get_stats()
            else:
                raise ValueError(f"unknown engine request {op!r}")
            reply = ("ok", rid, result)
        except asyncio.CancelledError:
            return
        except BaseException as exc:  # the worker's request fails with the engine's error
            reply = ("error", rid, _picklable(exc))
        finally:
            tasks.pop(rid, None)
        conn.send(reply)

    def start(rid: int, op: str, args: tuple) -> None:
        tasks[rid] = loop.create_task(handle(rid, op, args))

    def cancel(rid: int) -> None:
        task = tasks.pop(rid, None)
        if task is not None:
            task.cancel()

    def receive() -> None:
        while True:
            try:
                op, rid, args = conn.recv()
            except (EOFError, OSError):
                op = "close"
            if op == "close":
                loop.call_soon_threadsafe(loop.stop)
                return
            if op == "cancel":
                loop.call_soon_threadsafe(cancel, rid)
            else:
                loop.call_soon_threadsafe(start, rid, op, args)

    threading.Thread(target=receive, name="engine-requests", daemon=True).start()
    try:
        loop.run_forever()
    finally:
        engine.close()


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
    os._exit(0)  # the engine's threads (and any stuck request) must not keep the process alive
