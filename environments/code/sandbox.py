"""Run untrusted Python (model-written code) in a separate, confined process.

    sandbox = Sandbox(SandboxConfig(timeout_s=5))
    result = sandbox.run_python("print(1 + 1)")             # RunResult(status="ok", stdout="2\\n", ...)
    report = sandbox.run_harness(harness_source, payload={...}, files={"solution.py": code})

Confinement (the default, "bwrap" mode) uses bubblewrap: every namespace is unshared (no network, own pid
namespace, so the whole process tree dies with the sandbox), all capabilities are dropped, the root file system
is mounted read-only, `/tmp` is a private size-limited tmpfs and the working directory, `/proc` and `/dev` are
fresh, the environment is cleared (only PATH, HOME and LANG are set), and the sandbox dies with its parent and
runs in its own session (no terminal injection). Before `exec`, the child process sets rlimits: CPU seconds,
address space, file size and number of processes. The parent enforces a wall-clock timeout (killing the whole
process group) and reads stdout and stderr incrementally, killing the process as soon as their combined size
passes `max_output_bytes` (status "output_limit"), so a flood never builds up in the parent's memory. The
interpreter is `sys.executable -I -B` (isolated: no user site, no PYTHON* variables, no script dir on sys.path).

Without bubblewrap (or where it cannot create namespaces) the sandbox refuses to run anything (status
"refused", with the reason) unless the config sets `unsafe_local: true`, which runs the interpreter directly
in a temporary directory with the same rlimits, scrubbed environment and timeouts but no file-system, network
or process isolation. The active mode is logged once per process.

Test-harness protocol (`run_harness`): a fresh random nonce is written, with the JSON payload, to the harness's
stdin; the harness (see `HARNESS_PRELUDE`) reads both and closes stdin before any untrusted code is loaded, and
prints its JSON report prefixed with the nonce only after every test ran. Untrusted code that exits early
(`sys.exit(0)`, `os._exit(0)`, a crash) or prints a fake report therefore cannot pass: no nonce, no report.
This is best-effort: the nonce is never in the untrusted code's source or files, but untrusted code runs in
the harness's own process and could dig it out of memory (frames, `gc`); the harness also returns values, not
verdicts, so expected outputs never enter the sandbox and the comparison happens in the parent.

Deliberately simplified: no seccomp filter and no cgroup, so total memory across processes and the number of
processes are bounded only per process by rlimits (and the kernel does not apply RLIMIT_NPROC to root, which
is what we run as here), by the tmpfs size, and by the wall-clock timeout that kills the whole tree; one
process is started per run (no warm worker pool); stdout and stderr share one output budget.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

Status = Literal["ok", "error", "timeout", "output_limit", "memory", "killed", "refused", "sandbox_error"]
Mode = Literal["bwrap", "unsafe_local", "none"]

SANDBOX_DIR = "/tmp"
"""The working directory inside the bubblewrap sandbox (a private tmpfs)."""
_READ_CHUNK = 65_536
_logged_modes: set[str] = set()


class SandboxConfig(BaseModel):
    """Limits and mode of the code sandbox."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    timeout_s: float = Field(10.0, gt=0, le=600)
    """Wall-clock limit of one run in seconds; the whole process group is killed when it passes."""
    cpu_s: int = Field(5, ge=1, le=600)
    """CPU-time limit (RLIMIT_CPU) in seconds, per process."""
    memory_mb: int = Field(1024, ge=64, le=65_536)
    """Address-space limit (RLIMIT_AS) in MiB, per process."""
    max_output_bytes: int = Field(65_536, ge=1_024, le=64 * 1024 * 1024)
    """Combined stdout + stderr budget; the run is killed (status "output_limit") as soon as it is exceeded."""
    max_file_mb: int = Field(16, ge=1, le=4_096)
    """Largest file the code may write (RLIMIT_FSIZE) in MiB; also the size of the sandbox's /tmp tmpfs x 4."""
    max_procs: int = Field(64, ge=1, le=4_096)
    """Process limit (RLIMIT_NPROC); not enforced by the kernel for root, see the module docstring."""
    unsafe_local: bool = False
    """Run without bubblewrap when it is unavailable: NO isolation of files, network or processes. Only for
    trusted code or local debugging."""
    bwrap: str = "bwrap"
    """The bubblewrap executable (a name looked up on PATH, or a path)."""


@dataclass
class RunResult:
    """What one sandboxed run did."""

    status: Status
    """ok: exit code 0; error: non-zero exit; timeout: wall clock or CPU limit; output_limit: too much output;
    memory: ran out of address space; killed: died of a signal; refused: no safe way to run;
    sandbox_error: bubblewrap itself failed."""
    returncode: int | None
    """The exit code (negative: killed by that signal), None when nothing ran."""
    stdout: str
    stderr: str
    wall_s: float
    mode: Mode
    truncated: bool = False
    """True when output past the budget was dropped."""
    detail: str = ""
    """A human-readable reason for a non-ok status."""

    @property
    def ok(self) -> bool:
        """True when the program exited with code 0 within the limits."""
        return self.status == "ok"


@dataclass
class HarnessResult:
    """A harness run: the raw run plus the nonce-authenticated report (None when the harness did not finish)."""

    run: RunResult
    report: Any = None
    problems: list[str] = field(default_factory=list)
    """Why there is no report (early exit, timeout, output limit, ...)."""


class SandboxUnavailableError(RuntimeError):
    """No safe way to run untrusted code (no working bubblewrap and `unsafe_local` is off)."""


@lru_cache(maxsize=8)
def _probe_bwrap(path: str) -> str | None:
    """None when bubblewrap at `path` can create the namespaces we need, else why not."""
    try:
        res = subprocess.run(
            [path, "--unshare-all", "--cap-drop", "ALL", "--die-with-parent", "--ro-bind", "/", "/", "true"],
            capture_output=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{path} could not be run ({exc})"
    if res.returncode != 0:
        return f"{path} cannot create a sandbox here: {res.stderr.decode(errors='replace').strip()[:300]}"
    return None


def find_bwrap(name: str = "bwrap") -> str | None:
    """The path of the bubblewrap executable, or None (tests monkeypatch this to simulate its absence)."""
    return shutil.which(name)


def _log_mode_once(mode: str, message: str, level: int) -> None:
    if mode not in _logged_modes:
        _logged_modes.add(mode)
        log.log(level, message)


def _user_process_count() -> int:
    """How many processes the current real uid has (RLIMIT_NPROC counts them all, not just the sandbox's)."""
    uid, n = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                n += entry.stat().st_uid == uid
            except OSError:
                pass
    return n


def _set_limits(cfg: SandboxConfig, nproc: int) -> None:
    """Runs in the forked child before exec: rlimits (inherited by bwrap and everything it starts)."""
    mb = 1024 * 1024
    limits = [
        (resource.RLIMIT_CPU, (cfg.cpu_s, cfg.cpu_s + 1)),
        (resource.RLIMIT_AS, (cfg.memory_mb * mb, cfg.memory_mb * mb)),
        (resource.RLIMIT_FSIZE, (cfg.max_file_mb * mb, cfg.max_file_mb * mb)),
        (resource.RLIMIT_NPROC, (nproc, nproc)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    for what, value in limits:
        try:
            resource.setrlimit(what, value)
        except (ValueError, OSError):  # a hard limit lower than ours already applies
            pass


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


class Sandbox:
    """Runs Python source in a confined child process; see the module docstring."""

    def __init__(self, config: SandboxConfig | dict[str, Any] | None = None):
        self.config = config if isinstance(config, SandboxConfig) else SandboxConfig(**(config or {}))

    # --- mode ----------------------------------------------------------------------------------------------------
    def mode(self) -> tuple[Mode, str]:
        """The mode runs use now ("bwrap", "unsafe_local" or "none") and why."""
        path = find_bwrap(self.config.bwrap)
        problem = _probe_bwrap(path) if path else f"bubblewrap ({self.config.bwrap!r}) is not installed"
        if path and problem is None:
            _log_mode_once("bwrap", f"code sandbox: bubblewrap mode ({path})", logging.INFO)
            return "bwrap", path
        if self.config.unsafe_local:
            _log_mode_once(
                "unsafe_local",
                f"code sandbox: UNSAFE local mode ({problem}); untrusted code runs without isolation",
                logging.WARNING,
            )
            return "unsafe_local", problem or ""
        reason = (
            f"refusing to run untrusted code: {problem}. Install bubblewrap (apt-get install bubblewrap) or set "
            "`unsafe_local: true` in the sandbox config to run it without isolation."
        )
        _log_mode_once("none", f"code sandbox: {reason}", logging.ERROR)
        return "none", reason

    def check(self) -> Mode:
        """The active mode; raises SandboxUnavailableError when untrusted code would be refused."""
        mode, why = self.mode()
        if mode == "none":
            raise SandboxUnavailableError(why)
        return mode

    # --- running -------------------------------------------------------------------------------------------------
    def run_python(self, code: str, stdin: str = "", files: dict[str, str] | None = None) -> RunResult:
        """Run `code` as `main.py` (with extra `files` beside it) and return what happened."""
        return self.run({**(files or {}), "main.py": code}, "main.py", stdin=stdin)

    def run(self, files: dict[str, str], main: str, stdin: str = "") -> RunResult:
        """Write `files` (name -> text) into a fresh working directory and run `python -I -B <main>` there."""
        for name in files:
            if not name or "/" in name or name.startswith(".") or "\0" in name:
                raise ValueError(f"sandbox file names must be plain names, got {name!r}")
        if main not in files:
            raise ValueError(f"main file {main!r} is not among the files")
        mode, why = self.mode()
        if mode == "none":
            return RunResult("refused", None, "", why, 0.0, "none", detail=why)
        data = {name: text.encode("utf-8", errors="replace") for name, text in files.items()}
        stdin_bytes = stdin.encode("utf-8", errors="replace")
        if mode == "bwrap":
            return self._run_bwrap(why, data, main, stdin_bytes)
        return self._run_local(data, main, stdin_bytes)

    def _run_bwrap(self, bwrap: str, files: dict[str, bytes], main: str, stdin: bytes) -> RunResult:
        cfg = self.config
        fds = []
        try:
            args = [bwrap, "--unshare-all", "--cap-drop", "ALL", "--die-with-parent", "--new-session"]
            args += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
            args += ["--size", str(4 * cfg.max_file_mb * 1024 * 1024), "--tmpfs", SANDBOX_DIR]
            for name, content in files.items():
                fd = os.memfd_create(f"sandbox-{name}", 0)
                fds.append(fd)
                _write_all(fd, content)
                os.lseek(fd, 0, os.SEEK_SET)
                args += ["--ro-bind-data", str(fd), f"{SANDBOX_DIR}/{name}"]
            args += ["--chdir", SANDBOX_DIR, "--clearenv"]
            for key, value in self._env(SANDBOX_DIR).items():
                args += ["--setenv", key, value]
            args += [sys.executable, "-I", "-B", main]
            result = self._execute(
                args,
                stdin,
                cwd=None,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                pass_fds=tuple(fds),
                mode="bwrap",
            )
        finally:
            for fd in fds:
                os.close(fd)
        # bubblewrap reports a signal death of the sandboxed process as exit code 128 + signal
        if result.returncode is not None and result.returncode > 128 and result.status in ("error", "killed"):
            result.returncode = -(result.returncode - 128)
            self._classify(result)
        if result.status == "error" and result.stderr.startswith("bwrap:"):
            result.status, result.detail = "sandbox_error", result.stderr.strip()[:300]
        return result

    def _run_local(self, files: dict[str, bytes], main: str, stdin: bytes) -> RunResult:
        with tempfile.TemporaryDirectory(prefix="agentrl-sandbox-") as tmp:
            for name, content in files.items():
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(content)
            args = [sys.executable, "-I", "-B", main]
            return self._execute(args, stdin, cwd=tmp, env=self._env(tmp), pass_fds=(), mode="unsafe_local")

    @staticmethod
    def _env(home: str) -> dict[str, str]:
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}

    def _execute(
        self, args: list[str], stdin: bytes, cwd: str | None, env: dict[str, str], pass_fds: tuple[int, ...], mode: Mode
    ) -> RunResult:
        cfg = self.config
        # root is exempt from RLIMIT_NPROC; for other users it counts all their processes, so allow for those
        nproc = cfg.max_procs if os.getuid() == 0 else cfg.max_procs + _user_process_count()
        start = time.monotonic()
        deadline = start + cfg.timeout_s
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                pass_fds=pass_fds,
                start_new_session=True,
                preexec_fn=lambda: _set_limits(cfg, nproc),
            )
        except OSError as exc:
            return RunResult("sandbox_error", None, "", str(exc), 0.0, mode, detail=f"could not start: {exc}")
        out, err = bytearray(), bytearray()
        total, killed_for, truncated = 0, None, False
        sel = selectors.DefaultSelector()
        try:
            assert proc.stdin and proc.stdout and proc.stderr
            pending = memoryview(stdin)
            if pending:
                os.set_blocking(proc.stdin.fileno(), False)
                sel.register(proc.stdin, selectors.EVENT_WRITE, None)
            else:
                proc.stdin.close()
            sel.register(proc.stdout, selectors.EVENT_READ, out)
            sel.register(proc.stderr, selectors.EVENT_READ, err)
            readers = 2
            while readers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    killed_for = "timeout"
                    break
                for key, _ in sel.select(timeout=min(remaining, 1.0)):
                    if key.data is None:  # stdin writable
                        try:
                            n = os.write(key.fd, pending[:_READ_CHUNK])
                            pending = pending[n:]
                        except (BrokenPipeError, BlockingIOError, OSError) as exc:
                            if isinstance(exc, BlockingIOError):
                                continue
                            pending = pending[:0]
                        if not pending:
                            sel.unregister(key.fileobj)
                            key.fileobj.close()
                        continue
                    chunk = os.read(key.fd, _READ_CHUNK)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        readers -= 1
                        continue
                    room = cfg.max_output_bytes - total
                    total += len(chunk)
                    if len(chunk) > room:
                        key.data.extend(chunk[: max(room, 0)])
                        truncated, killed_for = True, "output_limit"
                        break
                    key.data.extend(chunk)
                if killed_for:
                    break
            if killed_for is None:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
                except subprocess.TimeoutExpired:
                    killed_for = "timeout"
        finally:
            _kill_group(proc)  # also reaps stragglers of a finished run (detached grandchildren in local mode)
            proc.wait()
            sel.close()
            for f in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    if f:
                        f.close()
                except OSError:
                    pass
        wall = time.monotonic() - start
        result = RunResult(
            status="ok",
            returncode=proc.returncode,
            stdout=out.decode("utf-8", errors="replace"),
            stderr=err.decode("utf-8", errors="replace"),
            wall_s=wall,
            mode=mode,
            truncated=truncated,
        )
        if killed_for == "timeout":
            result.status, result.detail = "timeout", f"wall-clock limit of {cfg.timeout_s:g} s exceeded"
        elif killed_for == "output_limit":
            result.status, result.detail = "output_limit", f"output exceeded {cfg.max_output_bytes} bytes"
        else:
            self._classify(result)
        return result

    def _classify(self, result: RunResult) -> None:
        rc = result.returncode
        tail = result.stderr[-2000:]
        if rc == 0:
            result.status, result.detail = "ok", ""
        elif "MemoryError" in tail or "Cannot allocate memory" in tail:
            result.status, result.detail = "memory", f"memory limit of {self.config.memory_mb} MiB exceeded"
        elif rc is not None and rc < 0:
            sig = -rc
            if sig == signal.SIGXCPU:
                result.status, result.detail = "timeout", f"CPU limit of {self.config.cpu_s} s exceeded"
            elif sig == signal.SIGXFSZ:
                result.status, result.detail = "error", f"file size limit of {self.config.max_file_mb} MiB exceeded"
            else:
                result.status, result.detail = "killed", f"killed by signal {signal.Signals(sig).name}"
        else:
            result.status, result.detail = "error", f"exit code {rc}"

    # --- harness protocol ----------------------------------------------------------------------------------------
    def run_harness(self, harness: str, payload: Any, files: dict[str, str] | None = None) -> HarnessResult:
        """Run a harness script (which must begin with `HARNESS_PRELUDE`) and read its nonce-tagged report."""
        nonce = "AGENTRL-" + secrets.token_hex(16)
        stdin = nonce + "\n" + json.dumps(payload) + "\n"
        run = self.run({**(files or {}), "harness.py": harness}, "harness.py", stdin=stdin)
        out = HarnessResult(run=run)
        if run.status == "refused":
            out.problems.append(run.detail)
            return out
        marker = nonce + " "
        for line in reversed(run.stdout.splitlines()):
            if line.startswith(marker):
                try:
                    out.report = json.loads(line[len(marker) :])
                except json.JSONDecodeError:
                    out.problems.append("the harness report was not valid JSON")
                break
        if out.report is None:
            if run.status in ("timeout", "output_limit", "memory", "killed", "sandbox_error"):
                out.problems.append(run.detail)
            else:
                out.problems.append(f"the program exited ({run.detail or 'exit code 0'}) before the tests finished")
        return out


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


HARNESS_PRELUDE = """\
import json as _json, os as _os, sys as _sys


def _agentrl_protocol():
    nonce = _sys.stdin.readline().strip()
    payload = _json.loads(_sys.stdin.readline() or "null")
    _sys.stdin.close()
    devnull = _os.open(_os.devnull, _os.O_RDONLY)
    _os.dup2(devnull, 0)
    _os.close(devnull)
    out_fd = _os.dup(1)

    def report(obj):
        data = ("\\n" + nonce + " " + _json.dumps(obj) + "\\n").encode()
        while data:
            data = data[_os.write(out_fd, data):]

    return payload, report


PAYLOAD, _report = _agentrl_protocol()
del _agentrl_protocol
"""
"""The first lines of every harness: read the nonce and payload from stdin (then close it) and define
`_report(obj)`, which writes the nonce-tagged JSON report to the original stdout."""
