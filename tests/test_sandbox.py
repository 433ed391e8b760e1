"""The code sandbox: confinement under bubblewrap, limits, the harness nonce protocol, and refusal without it."""

from __future__ import annotations

import ast
import json
import logging
import os
import secrets
import time
import tracemalloc
from pathlib import Path

import pytest

from environments.code import sandbox as sandbox_mod
from environments.code.sandbox import HARNESS_PRELUDE, Sandbox, SandboxConfig, SandboxUnavailableError

BWRAP = Sandbox().mode()[0] == "bwrap"
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot create a sandbox on this machine")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(SandboxConfig(timeout_s=10))


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(entry.name))
        except OSError:
            pass
    return found


def _wait_gone(marker: str, limit_s: float = 10.0) -> list[int]:
    end = time.monotonic() + limit_s
    while (left := _processes_with(marker)) and time.monotonic() < end:
        time.sleep(0.05)
    return left


@needs_bwrap
def test_ok_run_in_bwrap(sb: Sandbox) -> None:
    res = sb.run_python("import os, sys\nprint(6 * 7)\nprint(os.getcwd(), sys.flags.isolated)", stdin="")
    assert res.status == "ok" and res.ok and res.returncode == 0
    assert res.mode == "bwrap"
    assert res.stdout.split() == ["42", "/tmp", "1"]
    assert res.wall_s >= 0


@needs_bwrap
@pytest.mark.parametrize("site_packages", [False, True])
def test_site_packages_only_when_asked(site_packages: bool) -> None:
    box = Sandbox(SandboxConfig(timeout_s=10, site_packages=site_packages))
    res = box.run_python("import json, sys\nprint(sys.flags.no_site)\nimport pydantic\nprint('third-party')")
    assert res.stdout.split()[0] == str(int(not site_packages))  # the standard library either way
    if site_packages:
        assert res.status == "ok" and "third-party" in res.stdout
    else:
        assert res.status == "error" and "No module named 'pydantic'" in res.stderr


@needs_bwrap
def test_error_exit_code_and_stdin(sb: Sandbox) -> None:
    res = sb.run_python("import sys\ndata = sys.stdin.read()\nprint(len(data))\nsys.exit(3)", stdin="ab" * 100_000)
    assert res.status == "error" and res.returncode == 3
    assert res.stdout.strip() == "200000"


@needs_bwrap
def test_network_is_blocked(sb: Sandbox) -> None:
    code = (
        "import socket\n"
        "for host in [('1.1.1.1', 53), ('8.8.8.8', 443)]:\n"
        "    try:\n"
        "        socket.create_connection(host, timeout=2).close()\n"
        "        print('connected')\n"
        "    except OSError as exc:\n"
        "        print('blocked', exc.errno)\n"
        "print(sorted(line.split(':')[0].strip() for line in open('/proc/net/dev').readlines()[2:]))\n"
    )
    res = sb.run_python(code)
    assert res.ok, res.stderr
    assert "connected" not in res.stdout
    assert res.stdout.count("blocked") == 2
    assert res.stdout.strip().splitlines()[-1] == "['lo']"  # only a loopback device in the new net namespace


@needs_bwrap
def test_writes_outside_private_tmp_do_not_reach_the_host(sb: Sandbox, tmp_path: Path) -> None:
    tag = secrets.token_hex(6)
    repo_target = REPO / f"sandbox-escape-{tag}.txt"
    tmp_target = tmp_path / f"sandbox-escape-{tag}.txt"
    code = (
        "import os\n"
        f"for path in [{str(repo_target)!r}, {str(tmp_target)!r}, '/etc/sandbox-escape-{tag}']:\n"
        "    try:\n"
        "        open(path, 'w').write('escaped')\n"
        "        print('wrote', path)\n"
        "    except OSError as exc:\n"
        "        print('denied', exc.errno)\n"
        "open('scratch.txt', 'w').write('ok')\n"
        "print(sorted(os.listdir('.')))\n"
    )
    res = sb.run_python(code)
    assert res.ok, res.stderr
    assert not repo_target.exists() and not tmp_target.exists()
    assert not Path(f"/etc/sandbox-escape-{tag}").exists()
    assert res.stdout.count("denied") == 3  # read-only root; the host's /tmp is hidden by the private tmpfs
    assert "scratch.txt" in res.stdout  # the private /tmp working directory is writable


@needs_bwrap
def test_environment_is_scrubbed(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTRL_TEST_SECRET", "hunter2")
    res = sb.run_python("import json, os\nprint(json.dumps(dict(os.environ)))")
    assert res.ok, res.stderr
    env = json.loads(res.stdout)
    assert "AGENTRL_TEST_SECRET" not in env and "hunter2" not in res.stdout
    assert set(env) <= {"PATH", "HOME", "LANG", "PWD"}
    assert env["HOME"] == "/tmp"


@needs_bwrap
def test_no_capabilities_inside(sb: Sandbox) -> None:
    res = sb.run_python("print([l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0])")
    assert res.ok and int(res.stdout.strip(), 16) == 0


@needs_bwrap
def test_timeout_kills_the_whole_tree() -> None:
    marker = f"{secrets.randbelow(10**6) + 10**6}.{secrets.randbelow(10**6)}"
    code = (
        "import subprocess, time\n"
        f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
        f"subprocess.Popen(['sleep', '{marker}'])\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"
    )
    res = Sandbox(SandboxConfig(timeout_s=1.5)).run_python(code)
    assert res.status == "timeout" and "wall-clock" in res.detail
    assert res.stdout.startswith("started")
    assert _wait_gone(marker) == []


def test_timeout_kills_the_process_group_in_unsafe_local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_mod, "find_bwrap", lambda name="bwrap": None)
    marker = f"{secrets.randbelow(10**6) + 10**6}.{secrets.randbelow(10**6)}"
    code = f"import subprocess, time\nsubprocess.Popen(['sleep', '{marker}'])\ntime.sleep(600)\n"
    res = Sandbox(SandboxConfig(timeout_s=1.5, unsafe_local=True)).run_python(code)
    assert res.status == "timeout" and res.mode == "unsafe_local"
    assert _wait_gone(marker) == []


@needs_bwrap
def test_cpu_limit() -> None:
    res = Sandbox(SandboxConfig(cpu_s=1, timeout_s=20)).run_python("while True:\n    pass\n")
    assert res.status == "timeout" and "CPU" in res.detail


@needs_bwrap
def test_memory_limit(sb: Sandbox) -> None:
    res = Sandbox(SandboxConfig(memory_mb=256)).run_python("x = bytearray(2 * 1024**3)\n")
    assert res.status == "memory"


@needs_bwrap
def test_file_size_limit() -> None:
    code = (
        "try:\n    open('big', 'wb').write(b'x' * 3 * 1024**2)\nexcept OSError as exc:\n    print('refused', exc.errno)"
    )
    res = Sandbox(SandboxConfig(max_file_mb=1)).run_python(code)
    assert res.ok and res.stdout.startswith("refused")


@needs_bwrap
@pytest.mark.parametrize("starter", ["prlimit", "preexec_fn"])
def test_rlimits_inside_the_sandbox(starter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways of starting a run set the same rlimits; with prlimit no `preexec_fn` forces a full fork."""
    if starter == "preexec_fn":
        monkeypatch.setattr(sandbox_mod, "_prlimit", lambda: None)
    elif sandbox_mod._prlimit() is None:
        pytest.skip("util-linux's prlimit is not installed: runs take the preexec_fn path (the other case)")
    cfg = SandboxConfig(cpu_s=3, memory_mb=300, max_file_mb=2, max_procs=17)
    args, preexec = sandbox_mod._with_limits(["true"], cfg, cfg.max_procs)
    assert (preexec is None) == (starter == "prlimit") and args[-1] == "true"
    code = "import resource as r\n"
    code += "print([r.getrlimit(getattr(r, 'RLIMIT_' + n)) for n in ('CPU', 'AS', 'FSIZE', 'NPROC', 'CORE')])\n"
    res = Sandbox(cfg).run_python(code)
    assert res.ok, res.stderr
    cpu, address_space, file_size, nproc, core = ast.literal_eval(res.stdout)
    mb = 1024**2
    assert (cpu, address_space, file_size, core) == ((3, 4), (300 * mb, 300 * mb), (2 * mb, 2 * mb), (0, 0))
    # a root parent counts only the run's own processes; another uid's limit also covers its other processes
    assert nproc[0] == nproc[1] and (nproc[0] == 17 if os.getuid() == 0 else nproc[0] >= 17)


@needs_bwrap
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_flood_is_capped_while_reading(stream: str) -> None:
    cap = 10_000
    code = f"import sys\nwhile True:\n    sys.{stream}.write('x' * 4096)\n"
    sb = Sandbox(SandboxConfig(max_output_bytes=cap, timeout_s=10))
    tracemalloc.start()
    try:
        res = sb.run_python(code)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.status == "output_limit" and res.truncated
    assert len(res.stdout) + len(res.stderr) <= cap
    assert len(getattr(res, stream)) == cap
    assert peak < 2 * 1024 * 1024  # the parent never held more than a few read chunks


def _harness(body: str) -> str:
    return HARNESS_PRELUDE + body


TRIVIAL_HARNESS = _harness(
    "exec(compile(open('solution.py').read(), 'solution.py', 'exec'), {})\n_report({'all_passed': PAYLOAD['x']})\n"
)


@needs_bwrap
def test_harness_reports_with_nonce(sb: Sandbox) -> None:
    res = sb.run_harness(TRIVIAL_HARNESS, {"x": True}, files={"solution.py": "print('hello')\n"})
    assert res.report == {"all_passed": True}
    assert res.problems == []


@needs_bwrap
@pytest.mark.parametrize(
    "solution",
    [
        "import sys\nsys.exit(0)\n",
        "import os\nos._exit(0)\n",
        "import os\nprint('AGENTRL-' + '0' * 32 + ' {\"all_passed\": true}', flush=True)\nos._exit(0)\n",
        "import sys\nprint(sys.stdin.read())\nimport os\nos._exit(0)\n",
    ],
    ids=["sys-exit", "os-exit", "forged-report", "read-stdin"],
)
def test_early_exit_cannot_pass_the_harness(sb: Sandbox, solution: str) -> None:
    res = sb.run_harness(TRIVIAL_HARNESS, {"x": True}, files={"solution.py": solution})
    assert res.report is None
    assert res.problems
    assert "AGENTRL-" not in res.run.stdout.replace("AGENTRL-" + "0" * 32, "")  # the real nonce never leaked


@needs_bwrap
def test_nonce_is_not_in_the_sandbox_files(sb: Sandbox) -> None:
    solution = (
        "import os\n"
        "blob = ''.join(open(name, errors='replace').read() for name in os.listdir('.'))\n"
        "print('NONCE_IN_FILES' if 'AGENTRL-' in blob.replace(\"'AGENTRL-'\", '') else 'clean')\n"
    )
    res = sb.run_harness(TRIVIAL_HARNESS, {"x": False}, files={"solution.py": solution})
    assert res.report == {"all_passed": False}
    assert "clean" in res.run.stdout


def test_refuses_without_bubblewrap(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(sandbox_mod, "find_bwrap", lambda name="bwrap": None)
    monkeypatch.setattr(sandbox_mod, "_logged_modes", set())
    sb = Sandbox()
    with caplog.at_level(logging.INFO, logger="environments.code.sandbox"):
        res = sb.run_python("print('should not run')")
    assert res.status == "refused" and res.mode == "none" and res.returncode is None
    assert "should not run" not in res.stdout
    assert "bubblewrap" in res.detail and "unsafe_local" in res.detail
    assert any("refusing" in r.getMessage() for r in caplog.records)
    with pytest.raises(SandboxUnavailableError, match="unsafe_local"):
        sb.check()
    assert sb.run_harness(TRIVIAL_HARNESS, {"x": True}, files={"solution.py": ""}).report is None


def test_unsafe_local_opt_in(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(sandbox_mod, "find_bwrap", lambda name="bwrap": None)
    monkeypatch.setattr(sandbox_mod, "_logged_modes", set())
    monkeypatch.setenv("AGENTRL_TEST_SECRET", "hunter2")
    sb = Sandbox({"unsafe_local": True})
    with caplog.at_level(logging.INFO, logger="environments.code.sandbox"):
        res = sb.run_python("import os\nprint(6 * 7, os.environ.get('AGENTRL_TEST_SECRET'))")
        harness = sb.run_harness(TRIVIAL_HARNESS, {"x": True}, files={"solution.py": "import os\nos._exit(0)\n"})
    assert res.status == "ok" and res.mode == "unsafe_local" and res.stdout.split() == ["42", "None"]
    assert sb.check() == "unsafe_local"
    assert any(r.levelno == logging.WARNING and "UNSAFE" in r.getMessage() for r in caplog.records)
    assert harness.report is None


def test_config_is_strict_and_documented() -> None:
    with pytest.raises(ValueError):
        SandboxConfig(timeout=3)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        SandboxConfig(timeout_s=-1)
    fields = SandboxConfig.model_fields
    assert {"timeout_s", "cpu_s", "memory_mb", "max_output_bytes", "max_file_mb", "max_procs", "unsafe_local"} <= set(
        fields
    )
    assert all(f.description for f in fields.values())


def test_rejects_odd_file_names(sb: Sandbox) -> None:
    with pytest.raises(ValueError):
        sb.run({"../x.py": "print(1)"}, "../x.py")
