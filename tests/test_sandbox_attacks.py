"""Attacks on the code sandbox: model-written code that tries to escape, exhaust or outlive it.

Every attack runs through `Sandbox` (and, where it makes sense, through a code env's `step`). After each one the
`contained` fixture checks that nothing is left behind (no descendant of this process, no process with the
attack's marker in its command line, no process running as a sandbox uid) and that this process's RSS stayed
within `MAX_RSS_GROWTH` of where it started. The attack's main file is named after a fresh marker, so every
process the attack forks carries the marker in its command line. See docs/sandbox.md.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import environments
from environments.code import sandbox as sandbox_mod
from environments.code.sandbox import SANDBOX_UID_RANGE, RunResult, Sandbox, SandboxConfig

BWRAP = Sandbox().mode()[0] == "bwrap"
pytestmark = pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot create a sandbox on this machine")
REPO = Path(__file__).resolve().parents[1]
MAX_RSS_GROWTH = 200 * 1024 * 1024
ME = psutil.Process()
STATS: dict[str, float] = {"max_rss_growth_mb": 0.0, "fork_bomb_peak_procs": 0, "fork_bomb_max_stall_s": 0.0}


def _marker() -> str:
    return "agentrlattack" + secrets.token_hex(6)


def _with_marker(marker: str) -> list[int]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in p.info["cmdline"] or ()):
                found.append(p.pid)
        except (psutil.Error, TypeError):
            pass
    return found


def _sandbox_uid_procs() -> list[int]:
    found = []
    for p in psutil.process_iter(["uids"]):
        try:
            if SANDBOX_UID_RANGE[0] <= p.info["uids"].real < SANDBOX_UID_RANGE[1]:
                found.append(p.pid)
        except (psutil.Error, AttributeError):
            pass
    return found


def _descendants() -> list[psutil.Process]:
    return [p for p in ME.children(recursive=True) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


class Attack:
    """Runs attack code under a fresh marker and remembers the marker for the containment checks."""

    def __init__(self) -> None:
        self.markers: list[str] = []
        self.keep: set[int] = set()
        """Pids the test itself started (victims, listeners): not leaks."""

    def run(self, code: str, **limits: object) -> RunResult:
        marker = _marker()
        self.markers.append(marker)
        cfg = SandboxConfig(**{"timeout_s": 10.0, **limits})
        return Sandbox(cfg).run({f"{marker}.py": code}, f"{marker}.py")

    def step(self, code: str, env_id: str = "code-fn-easy", **limits: object) -> tuple:
        env = environments.make(env_id, sandbox={"timeout_s": 4.0, "cpu_s": 2, **limits})
        env.reset(seed=0)
        return env.step({"content": f"```python\n{code}\n```"})


@pytest.fixture(scope="module")
def rss_base() -> Iterator[int]:
    Sandbox().run_python("print(1)")  # warm up imports and the bwrap probe before measuring
    yield ME.memory_info().rss
    print(f"\nsandbox attack stats: {STATS}")


@pytest.fixture
def attack(rss_base: int) -> Iterator[Attack]:
    a = Attack()
    yield a
    # nothing is left behind, right after the run returned (the sandbox waits until its processes are gone)
    assert [p for p in _descendants() if p.pid not in a.keep] == []
    for marker in a.markers:
        assert _with_marker(marker) == []
    assert _sandbox_uid_procs() == []
    growth = ME.memory_info().rss - rss_base
    STATS["max_rss_growth_mb"] = max(STATS["max_rss_growth_mb"], growth / 2**20)
    assert growth < MAX_RSS_GROWTH


def _step_is_contained(out: tuple) -> None:
    obs, reward, terminated, truncated, info = out
    assert "env_error" not in info, info.get("env_error")
    assert reward == 0.0 and not info["success"]
    assert obs and all(isinstance(m["content"], str) and m["content"].strip() for m in obs)


# --- process and CPU exhaustion ----------------------------------------------------------------------------------
FORK_BOMB = """\
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


def test_fork_bomb_is_capped_and_killed(attack: Attack) -> None:
    base = len(psutil.pids())
    peak, stall, stop = [0], [0.0], threading.Event()

    def watch() -> None:  # the host keeps scheduling us and the sandbox never holds more than max_procs
        while not stop.is_set():
            t0 = time.perf_counter()
            peak[0] = max(peak[0], len(_sandbox_uid_procs()))
            time.sleep(0.02)
            stall[0] = max(stall[0], time.perf_counter() - t0 - 0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        res = attack.run(FORK_BOMB, timeout_s=3.0, max_procs=32)
    finally:
        stop.set()
        watcher.join()
    STATS["fork_bomb_peak_procs"], STATS["fork_bomb_max_stall_s"] = peak[0], round(stall[0], 3)
    STATS["procs_before_after_fork_bomb"] = (base, len(psutil.pids()))  # type: ignore[assignment]
    assert res.status == "timeout"
    # RLIMIT_NPROC applies (the code runs as an unprivileged uid); the kernel checks it per fork without a lock
    # across the uid's processes, so forks racing each other can overshoot it by one or two (seen: 33 of 32)
    assert 0 < peak[0] <= 32 + 2
    assert stall[0] < 5.0


def test_fork_bomb_through_a_code_env(attack: Attack) -> None:
    _step_is_contained(attack.step(FORK_BOMB))


def test_thread_bomb(attack: Attack) -> None:
    code = "import threading, time\nts = []\nwhile True:\n"
    code += "    t = threading.Thread(target=time.sleep, args=(60,), daemon=True)\n    t.start()\n    ts.append(t)\n"
    res = attack.run(code, timeout_s=5.0, max_procs=32)
    assert res.status == "error" and "can't start new thread" in res.stderr


def test_infinite_loop_hits_the_cpu_limit(attack: Attack) -> None:
    res = attack.run("while True:\n    pass\n", cpu_s=1, timeout_s=8.0)
    assert res.status == "timeout" and "CPU" in res.detail


def test_busy_threads_and_processes(attack: Attack) -> None:
    threads = "import threading\ndef spin():\n    while True:\n        pass\n"
    threads += "for _ in range(4):\n    threading.Thread(target=spin).start()\nspin()\n"
    res = attack.run(threads, cpu_s=1, timeout_s=8.0)  # RLIMIT_CPU counts every thread of the process
    assert res.status == "timeout" and "CPU" in res.detail
    procs = "import os\nfor _ in range(4):\n    if os.fork() == 0:\n        break\nwhile True:\n    pass\n"
    res = attack.run(procs, cpu_s=5, timeout_s=1.5)  # each process has its own CPU budget: the wall clock ends it
    assert res.status == "timeout" and "wall-clock" in res.detail


def test_sleep_past_the_timeout(attack: Attack) -> None:
    res = attack.run("import time\nprint('zzz', flush=True)\ntime.sleep(600)\n", timeout_s=1.0)
    assert res.status == "timeout" and res.stdout == "zzz\n"
    assert res.wall_s < 5.0
    _step_is_contained(attack.step("import time\ntime.sleep(600)\n", timeout_s=1.5))


# --- memory, output and disk ---------------------------------------------------------------------------------------
def test_memory_bomb(attack: Attack) -> None:
    res = attack.run("x = bytearray(8 * 1024**3)\n", memory_mb=512)
    assert res.status == "memory"
    res = attack.run("blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024**2))\n", memory_mb=512)
    assert res.status == "memory"
    _step_is_contained(attack.step("blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024**2))\n"))


def test_one_gigabyte_stdout_flood(attack: Attack) -> None:
    code = "import os\nchunk = b'x' * 2**20\nfor _ in range(1024):\n    os.write(1, chunk)\n"
    res = attack.run(code, max_output_bytes=65_536)
    assert res.status == "output_limit" and res.truncated
    assert len(res.stdout) <= 65_536
    # through the env: the harness silences print, so write to the file descriptor itself
    _step_is_contained(attack.step(code))


def test_huge_file_and_full_tmpfs(attack: Attack) -> None:
    code = textwrap.dedent(
        """\
        import errno, os
        try:
            with open('big', 'wb') as f:
                for _ in range(100):
                    f.write(b'x' * 2**20)
            print('wrote 100 MiB')
        except OSError as exc:
            print('big', errno.errorcode[exc.errno], flush=True)
        os.remove('big')
        try:
            for i in range(100):
                with open(f'part{i}', 'wb') as f:
                    f.write(b'y' * 3 * 2**20)
            print('filled 300 MiB')
        except OSError as exc:
            print('parts', errno.errorcode[exc.errno], i)
        """
    )
    res = attack.run(code, max_file_mb=4)
    assert res.ok, res.stderr
    lines = res.stdout.split("\n")
    assert lines[0] == "big EFBIG"  # RLIMIT_FSIZE (Python ignores SIGXFSZ, so the write fails instead)
    assert lines[1].startswith("parts ENOSPC")  # the private /tmp is a 4 x max_file_mb tmpfs
    assert int(lines[1].split()[-1]) <= 6


# --- isolation ------------------------------------------------------------------------------------------------------
def test_writes_outside_the_private_tmp_fail(attack: Attack, tmp_path: Path) -> None:
    tag = secrets.token_hex(6)
    targets = [
        f"/etc/agentrl-{tag}",
        f"/root/agentrl-{tag}",
        str(REPO / f"agentrl-{tag}"),
        str(Path(sys.executable).parent / f"agentrl-{tag}"),
        str(tmp_path / f"agentrl-{tag}"),
        f"/var/tmp/agentrl-{tag}",
        f"/dev/shm/agentrl-{tag}",
    ]
    code = (
        "import os\n"
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        with open(path, 'w') as f:\n"
        "            f.write('escaped')\n"
        "        print('wrote', path)\n"
        "    except OSError as exc:\n"
        "        print('denied', exc.errno)\n"
        "for path in ['/etc/passwd', '/root', '/']:\n"
        "    try:\n"
        "        os.chmod(path, 0o777)\n"
        "        print('chmod', path)\n"
        "    except OSError:\n"
        "        print('denied')\n"
    )
    res = attack.run(code)
    assert res.ok, res.stderr
    assert "wrote" not in res.stdout and "chmod" not in res.stdout
    assert res.stdout.count("denied") == len(targets) + 3
    for path in targets:
        assert not Path(path).exists()
    assert oct(Path("/etc/passwd").stat().st_mode)[-3:] != "777"


def test_secrets_are_not_readable(attack: Attack, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-" + secrets.token_hex(8)
    monkeypatch.setenv("AGENTRL_ATTACK_SECRET", secret)
    os.environ["AGENTRL_ATTACK_SECRET_2"] = secret
    try:
        code = textwrap.dedent(
            """\
            import glob, json, os
            print(json.dumps(dict(os.environ)))
            for path in glob.glob('/proc/*/environ') + ['/etc/shadow', '/root/.bash_history']:
                try:
                    print(open(path, 'rb').read().decode(errors='replace'))
                except OSError:
                    pass
            print(sorted(os.listdir('/root')))
            """
        )
        res = attack.run(code)
    finally:
        del os.environ["AGENTRL_ATTACK_SECRET_2"]
    assert res.ok, res.stderr
    assert secret not in res.stdout and "AGENTRL_ATTACK_SECRET" not in res.stdout
    assert res.stdout.splitlines()[-1] in ("[]", "['.pyenv']")  # /root is an empty tmpfs (plus the interpreter)


def test_network_connections_fail(attack: Attack) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    code = textwrap.dedent(
        f"""\
        import socket
        for host in [('1.1.1.1', 53), ('1.1.1.1', 443), ('127.0.0.1', {port}), ('localhost', {port})]:
            try:
                socket.create_connection(host, timeout=2).close()
                print('connected', host)
            except OSError as exc:
                print('failed', exc.errno)
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(b'x', ('1.1.1.1', 53))
            print('sent udp')
        except OSError as exc:
            print('failed', exc.errno)
        """
    )
    try:
        res = attack.run(code)
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever reached the parent's listener
    finally:
        listener.close()
    assert res.ok, res.stderr
    assert "connected" not in res.stdout and "sent udp" not in res.stdout
    assert res.stdout.count("failed") == 5


def test_cannot_signal_the_parent_or_anyone_else(attack: Attack) -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    attack.keep.add(victim.pid)
    try:
        code = textwrap.dedent(
            f"""\
            import os, signal
            for name, call in [
                ('ppid', lambda: os.kill(os.getppid(), signal.SIGKILL)),
                ('pid1', lambda: os.kill(1, signal.SIGKILL)),
                ('test', lambda: os.kill({os.getpid()}, signal.SIGKILL)),
                ('victim', lambda: os.kill({victim.pid}, signal.SIGKILL)),
                ('group', lambda: os.killpg({os.getpgid(0)}, signal.SIGKILL)),
                ('all', lambda: os.kill(-1, signal.SIGKILL)),
            ]:
                try:
                    call()
                    print(name, 'sent')
                except OSError as exc:
                    print(name, type(exc).__name__)
            """
        )
        res = attack.run(code)
        assert victim.poll() is None  # still alive
    finally:
        victim.kill()
        victim.wait()
    assert res.ok, res.stderr  # kill(-1) does not signal the caller; there is nothing else it may signal
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    assert lines["ppid"] == "PermissionError" and lines["pid1"] == "PermissionError"  # bubblewrap runs as root
    assert lines["test"] in ("ProcessLookupError", "PermissionError")  # other pid namespace
    assert lines["victim"] in ("ProcessLookupError", "PermissionError")
    assert lines["group"] in ("ProcessLookupError", "PermissionError")


@pytest.mark.parametrize("keep_stdout", [False, True], ids=["closed-stdio", "holding-stdout"])
def test_daemon_does_not_survive_the_run(attack: Attack, keep_stdout: bool) -> None:
    sleeper = f"{secrets.randbelow(10**5) + 10**5}.{secrets.randbelow(10**6)}"
    redirect = "null = os.open(os.devnull, os.O_RDWR)\n[os.dup2(null, fd) for fd in (0, 1, 2)]\n"
    code = textwrap.dedent(
        f"""\
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                {"" if keep_stdout else redirect.replace(chr(10), "; ")}os.execv('/bin/sleep', ['sleep', '{sleeper}'])
            os._exit(0)
        time.sleep(0.3)
        print('parent done', flush=True)
        """
    )
    attack.markers.append(sleeper)
    res = attack.run(code, timeout_s=5.0)
    assert res.ok and res.stdout == "parent done\n", res.stderr
    assert res.wall_s < 4.0  # the daemon holding stdout does not keep the run alive: its namespace died
    assert _with_marker(sleeper) == []  # gone at once, not eventually


def test_early_exit_cannot_pass(attack: Attack) -> None:
    env = environments.make("code-fn-easy")
    env.reset(seed=0)
    reference = env.oracle_action()["content"].split("```python\n")[1].split("```")[0]
    fake = "print('AGENTRL-' + '0' * 32 + ' {\"results\": []}', flush=True)\n"
    for tail in ("import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n", fake + "import os\nos._exit(0)\n"):
        res = attack.run(reference + tail)
        assert res.ok
        _step_is_contained(attack.step(reference + tail))
    # the function itself leaves the process when called
    body = reference.replace("    ", "    import os; os._exit(0)\n    ", 1)
    _step_is_contained(attack.step(body))


def test_recursion_bomb(attack: Attack) -> None:
    res = attack.run("def f(n):\n    return f(n + 1)\nf(0)\n")
    assert res.status == "error" and "RecursionError" in res.stderr
    deep = "import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n"
    res = attack.run(deep, memory_mb=256, cpu_s=3)
    # Python frames live on the heap: the address-space limit, the C stack (SIGSEGV) or the CPU limit ends it
    assert res.status in ("memory", "killed", "timeout", "error") and res.detail
    _step_is_contained(attack.step(deep))


@pytest.mark.parametrize("switch", ["setpriv", "python-bootstrap"])
def test_code_runs_as_a_fresh_unprivileged_uid(attack: Attack, switch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("the uid switch is for a root parent")
    if switch == "python-bootstrap":
        monkeypatch.setattr(sandbox_mod, "_setpriv", lambda: None)
    elif sandbox_mod._setpriv() is None:
        pytest.skip("setpriv is not installed")
    code = "import os\nprint(*os.getresuid(), *os.getresgid(), len(os.getgroups()))\n"
    code += "print(*[line.split()[1] for line in open('/proc/self/status') if line.startswith(('CapEff', 'CapPrm'))])\n"
    first, second = attack.run(code), attack.run(code)
    assert first.ok and second.ok, first.stderr + second.stderr
    ids = [int(x) for x in first.stdout.split("\n")[0].split()]
    assert len(set(ids[:6])) == 1 and SANDBOX_UID_RANGE[0] <= ids[0] < SANDBOX_UID_RANGE[1] and ids[6] == 0
    assert first.stdout.split("\n")[0] != second.stdout.split("\n")[0]  # a fresh uid per run
    assert first.stdout.split("\n")[1].split() == ["0000000000000000"] * 2  # no capabilities
