"""Code-sandbox overhead: sandboxed runs (bubblewrap, fresh uid, rlimits) vs a bare `python -I -B -S -c` subprocess.

    .venv/bin/python benchmarks/sandbox_overhead.py [--runs 10] [--repeats 3]

Three typical test programs (a small function plus a few asserts; an import-heavy one; a slightly CPU-bound one)
run through `environments.code.sandbox.Sandbox.run_python` and through a bare subprocess of the same interpreter
with the same rlimits (CPU, address space, file size, processes), a cleared environment and captured output.
The import-heavy program imports numpy, so it runs with `site_packages: true` (and the bare interpreter
without `-S`); the others run as the code envs' programs do, on the standard library only. Variants are
interleaved (each repeat runs every program in both modes) and the medians of executions/s are compared:
the overhead ratio is bare executions/s over sandboxed executions/s (1.0 = free; target <= 1.5).

Where the sandbox's time goes is measured by running parts of its exact command line (captured from the sandbox
itself): bubblewrap alone (namespaces, mounts) exec'ing `/bin/true`, bubblewrap + setpriv (uid switch) + `true`,
the same + the interpreter on `pass`, and the parent's per-run uid cleanup (`/proc` scan), each against a bare
`/bin/true` and a bare interpreter start with and without `site` (`-S`, the sandbox's default).

How a run is started, from a parent the size of a Ray rollout worker (`--parent-mb` of touched memory, 8 idle
threads): with util-linux's `prlimit` in front of bubblewrap (the shipped path; `subprocess` spawns with vfork)
against a `preexec_fn` setting the rlimits (a full fork of the parent), as system-wide CPU per run from
/proc/stat (both cores, kernel time included), interleaved.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from unittest import mock

from common import print_table, write_result

from environments.code import sandbox as sandbox_mod
from environments.code.sandbox import Sandbox, SandboxConfig, _procs_of_uid, _setpriv

PROGRAMS = {
    "function+asserts": (
        "def add_digits(n):\n"
        "    return sum(int(c) for c in str(abs(n)))\n\n"
        "assert add_digits(0) == 0\n"
        "assert add_digits(123) == 6\n"
        "assert add_digits(-905) == 14\n"
        "assert add_digits(10**12) == 1\n"
        "print('ok')\n"
    ),
    "import-heavy": (
        "import json, re, collections, itertools, functools, dataclasses, typing, fractions, decimal, statistics\n"
        "import datetime, heapq, bisect, math, random, string, textwrap, unittest\n"
        "import numpy as np\n"
        "assert np.arange(10).sum() == 45\n"
        "assert statistics.mean([1, 2, 3]) == 2\n"
        "print(json.dumps({'ok': True}))\n"
    ),
    "cpu-bound": (
        "def primes(n):\n"
        "    sieve = bytearray([1]) * (n + 1)\n"
        "    sieve[0:2] = b'\\x00\\x00'\n"
        "    for i in range(2, int(n ** 0.5) + 1):\n"
        "        if sieve[i]:\n"
        "            sieve[i * i :: i] = bytearray(len(sieve[i * i :: i]))\n"
        "    return [i for i, v in enumerate(sieve) if v]\n\n"
        "total = 0\n"
        "for k in range(30):\n"
        "    total += sum(x * x % 7 for x in range(20_000))\n"
        "assert len(primes(200_000)) == 17984\n"
        "print(total)\n"
    ),
}


def _limits(cfg: SandboxConfig):
    mb = 1024 * 1024

    def apply() -> None:
        for what, value in (
            (resource.RLIMIT_CPU, (cfg.cpu_s, cfg.cpu_s + 1)),
            (resource.RLIMIT_AS, (cfg.memory_mb * mb, cfg.memory_mb * mb)),
            (resource.RLIMIT_FSIZE, (cfg.max_file_mb * mb, cfg.max_file_mb * mb)),
            (resource.RLIMIT_CORE, (0, 0)),
        ):
            resource.setrlimit(what, value)

    return apply


SITE = {"import-heavy"}
"""Programs that import third-party packages: they run with `site_packages: true`."""

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}


def bare(code: str, cfg: SandboxConfig) -> bool:
    """The baseline: the same interpreter, isolated mode, same rlimits, cleared env, captured output."""
    res = subprocess.run(
        [*Sandbox(cfg)._interpreter(), "-c", code],
        capture_output=True,
        env=ENV,
        timeout=cfg.timeout_s,
        preexec_fn=_limits(cfg),
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )
    return res.returncode == 0


class RecordingSandbox(Sandbox):
    """A Sandbox that remembers the last command line it ran (to time parts of it)."""

    last_args: list[str] = []

    def _execute(self, args, *a, **kw):  # noqa: D102
        RecordingSandbox.last_args = list(args)
        return super()._execute(args, *a, **kw)


def timed(fn, n: int) -> float:
    """Executions per second of `fn` over n calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def part_commands(args: list[str]) -> dict[str, list[str]]:
    """Prefixes of the sandbox's own command line, each ending in a cheap program."""
    exe = sys.executable
    i = args.index(exe)  # where the interpreter starts (after bubblewrap's and setpriv's arguments)
    sp = _setpriv()
    j = args.index(sp) if sp and sp in args else i
    return {
        "bare /bin/true": ["/bin/true"],
        "bare python -I -B -c pass (with site)": [exe, "-I", "-B", "-c", "pass"],
        "bare python -I -B -S -c pass": [exe, "-I", "-B", "-S", "-c", "pass"],
        "bwrap + /bin/true": [*args[:j], "/bin/true"],
        "bwrap + setpriv + /bin/true": [*args[:i], "/bin/true"],
        "bwrap + setpriv + python -S pass": [*args[:i], exe, "-I", "-B", "-S", "-c", "pass"],
    }


def without_memfds(args: list[str]) -> list[str]:
    """The command line without its `--perms 0444 --ro-bind-data FD DEST` file bindings (the memfds are closed)."""
    out, k = [], 0
    while k < len(args):
        if args[k] == "--perms" and k + 2 < len(args) and args[k + 2] == "--ro-bind-data":
            k += 5
            continue
        out.append(args[k])
        k += 1
    return out


def busy_cpu_ms() -> float:
    """CPU time all cores spent busy since boot (user, nice, system, irq, softirq, steal), in ms."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) * 1000 / os.sysconf("SC_CLK_TCK")


def spawn_cost(sb: Sandbox, runs: int, repeats: int, parent_mb: int) -> list[dict]:
    """System-wide CPU per `run_python('pass')` started through prlimit and through a preexec_fn, from a parent
    holding `parent_mb` of touched memory and 8 idle threads."""
    ballast = bytearray(parent_mb * 1024 * 1024)
    for k in range(0, len(ballast), 4096):
        ballast[k] = 1
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    ways = {"prlimit (vfork)": sandbox_mod._prlimit, "preexec_fn (fork)": lambda: None}
    cost: dict[str, list[float]] = {}
    try:
        for _ in range(repeats):
            for name, finder in ways.items():
                with mock.patch.object(sandbox_mod, "_prlimit", finder):
                    c0 = busy_cpu_ms()
                    for _ in range(runs):
                        assert sb.run_python("pass").ok
                    cost.setdefault(name, []).append((busy_cpu_ms() - c0) / runs)
    finally:
        stop.set()
        del ballast
    return [{"start": n, "parent_mb": parent_mb, "cpu_ms_per_run": statistics.median(v)} for n, v in cost.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="executions per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parent-mb", type=int, default=550, help="touched memory of the large parent")
    args = parser.parse_args()
    cfg = SandboxConfig(timeout_s=10, cpu_s=5, memory_mb=1024)
    site_cfg = cfg.model_copy(update={"site_packages": True})
    sb = RecordingSandbox(cfg)
    mode = sb.check()
    boxes = {name: RecordingSandbox(site_cfg) if name in SITE else sb for name in PROGRAMS}
    cfgs = {name: site_cfg if name in SITE else cfg for name in PROGRAMS}
    for name, code in PROGRAMS.items():  # warm caches, check every program passes both ways
        res = boxes[name].run_python(code)
        assert res.ok, (name, res.status, res.stderr[-500:])
        assert bare(code, cfgs[name]), name
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for name, code in PROGRAMS.items():
            rates.setdefault((name, "bare"), []).append(timed(lambda c=code, n=name: bare(c, cfgs[n]), args.runs))
            rates.setdefault((name, "sandbox"), []).append(
                timed(lambda c=code, n=name: boxes[n].run_python(c), args.runs)
            )
    rows = []
    for name in PROGRAMS:
        b = statistics.median(rates[(name, "bare")])
        s = statistics.median(rates[(name, "sandbox")])
        rows.append(
            {
                "program": name,
                "bare_exec_per_s": b,
                "sandbox_exec_per_s": s,
                "bare_ms": 1000 / b,
                "sandbox_ms": 1000 / s,
                "overhead_ratio": b / s,
                "added_ms": 1000 / s - 1000 / b,
            }
        )
    print_table(f"sandbox ({mode}) vs bare subprocess, median of {args.repeats}x{args.runs} runs", rows)

    # where the time goes: parts of the sandbox's own command line
    sb.run_python("pass")
    parts = part_commands(without_memfds(RecordingSandbox.last_args))
    part_rates: dict[str, list[float]] = {}
    cleanup: list[float] = []
    for _ in range(args.repeats):
        for name, cmd in parts.items():
            part_rates.setdefault(name, []).append(
                timed(
                    lambda c=cmd: subprocess.run(c, capture_output=True, env=ENV, stdin=subprocess.DEVNULL), args.runs
                )
            )
        part_rates.setdefault("full sandbox: run_python('pass')", []).append(
            timed(lambda: sb.run_python("pass"), args.runs)
        )
        cleanup.append(timed(lambda: _procs_of_uid(1_999_999_999), args.runs))
    part_rows = [{"what": n, "ms_per_run": 1000 / statistics.median(r)} for n, r in part_rates.items()]
    part_rows.append({"what": "parent: uid cleanup (/proc scan)", "ms_per_run": 1000 / statistics.median(cleanup)})
    print_table("where a sandboxed run's time goes (ms per run, medians)", part_rows)
    spawn_rows = spawn_cost(sb, max(args.runs, 20), args.repeats, args.parent_mb)
    print_table("starting a run from a large parent (system-wide CPU ms per run, medians)", spawn_rows)
    worst = max(r["overhead_ratio"] for r in rows)
    print(f"sandbox overhead (bare exec/s over sandboxed exec/s): worst {worst:.2f}x, target <= 1.5x")
    path = write_result(
        "sandbox_overhead",
        {
            "runs": args.runs,
            "repeats": args.repeats,
            "sandbox": cfg.model_dump(),
            "mode": mode,
            "root": os.geteuid() == 0,
            "setpriv": _setpriv(),
            "programs": PROGRAMS,
            "site_packages_programs": sorted(SITE),
        },
        {
            "rows": rows,
            "parts": part_rows,
            "spawn": spawn_rows,
            "worst_overhead_ratio": worst,
            "raw": {f"{k[0]}|{k[1]}": v for k, v in rates.items()},
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
