"""Run untrusted Python (model-written code) in a separate, confined process.

    sandbox = Sandbox(SandboxConfig(timeout_s=5))
    result = sandbox.run_python("print(1 + 1)")             # RunResult(status="ok", stdout="2\\n", ...)
    report = sandbox.run_harness(harness_source, payload={...}, files={"solution.py": code})

Confinement (the default, "bwrap" mode) uses bubblewrap: new pid, network, IPC, UTS and cgroup namespaces (no
network, own pid namespace, so the whole process tree dies with the sandbox), the root file system is mounted
read-only (nosuid, nodev), `/tmp` is a private size-limited tmpfs and the working directory, `/proc` and `/dev` are
fresh, the environment is cleared (only PATH, HOME and LANG are set), and the sandbox dies with its parent and
runs in its own session (no terminal injection). util-linux's `prlimit` starts bubblewrap under the run's rlimits (a
`preexec_fn` where prlimit is missing): CPU seconds, address space, file size and number of processes. The parent
enforces a wall-clock timeout (killing the whole process group) and reads stdout and stderr incrementally, killing the
process as soon as their combined size passes `max_output_bytes` (status "output_limit"), so a flood never builds up
in the parent's memory. The interpreter is `sys.executable -I -B -S` (isolated: no user site, no PYTHON* variables, no
script dir on sys.path; no `site`, so the standard library only, unless `site_packages: true`).

Unprivileged uid: the kernel does not apply RLIMIT_NPROC to root, so when the parent runs as root the untrusted code
does not: bubblewrap (privileged, no user namespace) sets up the mounts, drops every capability but
CAP_SETUID/CAP_SETGID(/CAP_SETPCAP), and `setpriv` (or a two-line Python bootstrap) switches to a fresh uid/gid drawn
per run from `SANDBOX_UID_RANGE` (no supplementary groups, no capabilities, `no_new_privs`) before it execs the
interpreter. RLIMIT_NPROC then caps the run's processes and threads (a fork bomb stops at `max_procs`), the code
cannot signal anything outside its run, and root-only files are unreadable. Directories on the interpreter's path that
"others" cannot enter (a pyenv under `/root`) are covered with an empty tmpfs with the interpreter's own directories
bind-mounted back, read-only. When a run ends, the kernel kills the rest of its pid namespace, but bubblewrap's
monitor reports the exit status as soon as the namespace's init starts exiting, before that is done; so after every
run the parent also kills whatever still runs as that uid and waits until it is gone (one /proc scan when nothing is
left). When the parent is not root, bubblewrap runs unprivileged with `--unshare-all` (a user namespace) and
RLIMIT_NPROC applies to the parent's uid as a whole.

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

Deliberately simplified: no seccomp filter and no cgroup, so total memory across processes is bounded only per
process by RLIMIT_AS (up to `max_procs` x `memory_mb` in all), plus the tmpfs size, and by the wall-clock
timeout that kills the whole tree; one process is started per run (no warm worker pool); stdout and stderr
share one output budget. See docs/sandbox.md for what is enforced by what.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

Status = Literal["ok", "error", "timeout", "output_limit", "memory", "killed", "refused", "sandbox_error"]
Mode = Literal["bwrap", "unsafe_local", "none"]

SANDBOX_DIR = "/tmp"
"""The working directory inside the bubblewrap sandbox (a private tmpfs)."""
SANDBOX_UID_RANGE = (1_900_000_000, 2_000_000_000)
"""When the parent is root, each run's code runs as a fresh uid (= gid) drawn from this range (no such user
exists on the host, so nothing else shares its process count or its files)."""
UNSHARE_PRIVILEGED = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
"""Namespaces of a root-run sandbox: everything but the user namespace (inside one, the sandbox uid would map to
root outside, which RLIMIT_NPROC exempts)."""
_BOOTSTRAP = (
    "import os, sys\n"
    "u = int(sys.argv[1])\n"
    "os.setgroups([])\n"
    "os.setresgid(u, u, u)\n"
    "os.setresuid(u, u, u)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)
"""Runs as root inside the root-run sandbox (only CAP_SETUID/CAP_SETGID left) when util-linux's `setpriv` is
missing: drop to the run's uid, exec the interpreter. (`setpriv` also empties the inheritable and bounding
capability sets, and saves an interpreter start.)"""
_CLEANUP_S = 5.0
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
    site_packages: bool = False
    """Let the code import the interpreter's site-packages (third-party libraries). Off: the interpreter runs
    with `-S`, so the code sees the standard library only and each run starts about 30 ms sooner (the `site`
    module and the .pth files of a virtual environment cost more than the rest of the interpreter's start;
    benchmarks/sandbox_overhead.py). Without `site` the `exit()` and `quit()` helpers are not defined either
    (`sys.exit` is)."""


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


@lru_cache(maxsize=1)
def _setpriv() -> str | None:
    """util-linux's setpriv, which switches the root-run sandbox to the run's uid (None: the Python bootstrap)."""
    return shutil.which("setpriv")


def _privileged() -> bool:
    """True when runs use the root-run sandbox (privileged bubblewrap, code dropped to a fresh uid)."""
    return os.geteuid() == 0


@lru_cache(maxsize=8)
def _probe_bwrap(path: str, privileged: bool = False) -> str | None:
    """None when bubblewrap at `path` can create the namespaces we need, else why not."""
    unshare = UNSHARE_PRIVILEGED if privileged else ["--unshare-all"]
    try:
        res = subprocess.run(
            [path, *unshare, "--cap-drop", "ALL", "--die-with-parent", "--ro-bind", "/", "/", "true"],
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


def _limits(cfg: SandboxConfig, nproc: int) -> list[tuple[int, str, tuple[int, int]]]:
    """The run's rlimits as (resource, prlimit option, (soft, hard)), each capped at a lower hard limit that
    already applies to this process (only root may raise one)."""
    mb = 1024 * 1024
    wanted = [
        (resource.RLIMIT_CPU, "cpu", (cfg.cpu_s, cfg.cpu_s + 1)),
        (resource.RLIMIT_AS, "as", (cfg.memory_mb * mb, cfg.memory_mb * mb)),
        (resource.RLIMIT_FSIZE, "fsize", (cfg.max_file_mb * mb, cfg.max_file_mb * mb)),
        (resource.RLIMIT_NPROC, "nproc", (nproc, nproc)),
        (resource.RLIMIT_CORE, "core", (0, 0)),
    ]
    out = []
    for what, option, (soft, hard) in wanted:
        current = resource.getrlimit(what)[1]
        if os.geteuid() != 0 and current != resource.RLIM_INFINITY and hard > current:
            soft, hard = min(soft, current), current
        out.append((what, option, (soft, hard)))
    return out


@lru_cache(maxsize=1)
def _prlimit() -> str | None:
    """util-linux's prlimit, which sets the run's rlimits and execs bubblewrap (None: a `preexec_fn` does)."""
    return shutil.which("prlimit")


def _with_limits(args: list[str], cfg: SandboxConfig, nproc: int) -> tuple[list[str], Callable[[], None] | None]:
    """The command line and `preexec_fn` that start `args` under the run's rlimits (inherited by bubblewrap and
    everything it starts). With prlimit in front, `subprocess` can spawn with vfork: a `preexec_fn` forces a
    full fork, which in a large parent (a Ray rollout worker) costs several milliseconds of CPU per run."""
    limits = _limits(cfg, nproc)
    prlimit = _prlimit()
    if prlimit:
        return [prlimit, *(f"--{opt}={soft}:{hard}" for _, opt, (soft, hard) in limits), "--", *args], None

    def set_limits() -> None:  # runs in the forked child before exec
        for what, _, value in limits:
            try:
                resource.setrlimit(what, value)
            except (ValueError, OSError):  # a hard limit lower than ours already applies
                pass

    return args, set_limits


def _interpreter_mounts() -> list[str]:
    """bubblewrap arguments that make the interpreter usable by an unprivileged uid.

    For each directory the interpreter needs (its executable, prefixes and standard library) whose ancestors
    "others" cannot enter (e.g. a pyenv under a 0700 `/root`), the topmost such ancestor is covered with an empty
    tmpfs, the directories down to the needed one are recreated (0755) and the needed one is bind-mounted back
    read-only. Everything else under that ancestor stays hidden."""
    needed: set[str] = set()
    for path in (sys.executable, os.path.realpath(sys.executable)):
        needed.add(os.path.dirname(path))
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        needed.add(prefix)
        needed.add(os.path.realpath(prefix))
    covers: dict[str, set[str]] = {}
    for path in sorted(needed):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            ancestor = "/" + "/".join(parts[:i])
            try:
                searchable = os.stat(ancestor).st_mode & 0o001
            except OSError:
                break
            if not searchable:
                covers.setdefault(ancestor, set()).add(path)
                break
    args: list[str] = []
    for top in sorted(covers):
        if any(top.startswith(other + "/") for other in covers):
            continue
        args += ["--perms", "0755", "--tmpfs", top]
        binds = sorted(covers[top])
        binds = [b for b in binds if not any(b.startswith(o + "/") for o in binds)]
        made: set[str] = set()
        for target in binds:
            rel = target[len(top) + 1 :].split("/")
            for j in range(1, len(rel)):
                d = top + "/" + "/".join(rel[:j])
                if d not in made:
                    made.add(d)
                    args += ["--perms", "0755", "--dir", d]
            args += ["--ro-bind", target, target]
    return args


def _procs_of_uid(uid: int) -> list[int]:
    """The pids whose real uid is `uid` (read from /proc/<pid>/status: a non-dumpable process's /proc entry is
    owned by root, so the directory's owner is not enough)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry.name))
                        break
        except (OSError, ValueError, IndexError):
            pass
    return found


def _kill_uid(uid: int) -> bool:
    """SIGKILL every process of the run's uid until none is left; False when some survive `_CLEANUP_S`."""
    end = time.monotonic() + _CLEANUP_S
    while pids := _procs_of_uid(uid):
        if time.monotonic() > end:
            log.warning("code sandbox: %d processes of uid %d survived cleanup: %s", len(pids), uid, pids[:10])
            return False
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)
    return True


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
        problem = _probe_bwrap(path, _privileged()) if path else f"bubblewrap ({self.config.bwrap!r}) is not installed"
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
        """Write `files` (name -> text) into a fresh working directory and run `python -I -B -S <main>` there."""
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
        privileged = _privileged()
        uid = SANDBOX_UID_RANGE[0] + secrets.randbelow(SANDBOX_UID_RANGE[1] - SANDBOX_UID_RANGE[0])
        try:
            setpriv = _setpriv() if privileged else None
            if privileged:
                args = [bwrap, *UNSHARE_PRIVILEGED, "--cap-drop", "ALL"]
                args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
                if setpriv:  # to empty the bounding set before the uid switch
                    args += ["--cap-add", "CAP_SETPCAP"]
            else:
                args = [bwrap, "--unshare-all", "--cap-drop", "ALL"]
            args += ["--die-with-parent", "--new-session"]
            args += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
            args += ["--perms", "1777", "--size", str(4 * cfg.max_file_mb * 1024 * 1024), "--tmpfs", SANDBOX_DIR]
            if privileged:
                args += _interpreter_mounts()
            for name, content in files.items():
                fd = os.memfd_create(f"sandbox-{name}", 0)
                fds.append(fd)
                _write_all(fd, content)
                os.lseek(fd, 0, os.SEEK_SET)
                args += ["--perms", "0444", "--ro-bind-data", str(fd), f"{SANDBOX_DIR}/{name}"]
            args += ["--chdir", SANDBOX_DIR, "--clearenv"]
            for key, value in self._env(SANDBOX_DIR).items():
                args += ["--setenv", key, value]
            if setpriv:
                args += [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]
                args += ["--bounding-set=-all", "--", *self._interpreter(), main]
            elif privileged:
                args += [sys.executable, "-I", "-B", "-S", "-c", _BOOTSTRAP, str(uid), *self._interpreter()[1:], main]
            else:
                args += [*self._interpreter(), main]
            result = self._execute(
                args,
                stdin,
                cwd=None,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                pass_fds=tuple(fds),
                mode="bwrap",
                uid=uid if privileged else None,
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
            args = [*self._interpreter(), main]
            return self._execute(args, stdin, cwd=tmp, env=self._env(tmp), pass_fds=(), mode="unsafe_local")

    def _interpreter(self) -> list[str]:
        """The interpreter command line the code runs under (see `SandboxConfig.site_packages`)."""
        return [sys.executable, "-I", "-B", *([] if self.config.site_packages else ["-S"])]

    @staticmethod
    def _env(home: str) -> dict[str, str]:
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}

    def _execute(
        self,
        args: list[str],
        stdin: bytes,
        cwd: str | None,
        env: dict[str, str],
        pass_fds: tuple[int, ...],
        mode: Mode,
        uid: int | None = None,
    ) -> RunResult:
        cfg = self.config
        # root is exempt from RLIMIT_NPROC (a root-run sandbox drops the code to a fresh `uid`, which starts with no
        # processes); for other users it counts all their processes, so allow for those
        nproc = cfg.max_procs if os.getuid() == 0 else cfg.max_procs + _user_process_count()
        start = time.monotonic()
        deadline = start + cfg.timeout_s
        args, preexec = _with_limits(args, cfg, nproc)
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
                preexec_fn=preexec,
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
            # bwrap exits once the namespace's init starts exiting, which may be before the kernel has killed and
            # reaped the rest of the namespace (a detached daemon): make sure of it and wait until it has.
            if uid is not None:
                _kill_uid(uid)
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
