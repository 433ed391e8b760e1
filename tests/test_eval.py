"""Evaluation without Ray: the pass@k estimator and intervals against hand-computed values, the `eval` config
section, and an oracle-replaying policy scoring pass@1 = 1 on every registered env through the real agent loop
and `rl.eval.evaluate` (the oracle engine below is a test helper, not shipped code)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import environments
from rl.eval import EvalConfig, build_result, evaluate, pass_at_k, wilson_interval, write_report
from rl.eval.metrics import Episode, normal_interval, paired_difference, summarize
from rl.eval.report import change_text, markdown_report
from rl.eval.runner import paired_changes
from rl.policy.tokenizer import build_byte_tokenizer
from rollout.agent_loop import ChatRenderer, run_episode
from rollout.chat_format import ASSISTANT
from rollout.config import RolloutConfig, SamplingConfig
from rollout.engines.base import Engine, Generation, GenParams

TOK = build_byte_tokenizer()


def test_pass_at_k_matches_hand_computed_values() -> None:
    assert pass_at_k(5, 0, 1) == 0.0
    assert pass_at_k(5, 5, 3) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # C(3,2)/C(4,2) = 3/6
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)  # C(7,5)=21, C(10,5)=252
    assert pass_at_k(5, 2, 4) == 1.0  # n - c = 3 < k: every draw of 4 contains a success
    assert pass_at_k(6, 2, 2) == pytest.approx(1 - 6 / 15)
    for n, c, k in [(8, 3, 1), (8, 3, 4), (20, 1, 10)]:  # pass@1 = c/n; the closed form equals the product form
        prod = 1 - math.prod(1 - k / i for i in range(n - c + 1, n + 1))
        assert pass_at_k(n, c, k) == pytest.approx(prod)
    assert pass_at_k(8, 3, 1) == pytest.approx(3 / 8)
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)
    with pytest.raises(ValueError):
        pass_at_k(2, 3, 1)


def test_wilson_and_normal_intervals() -> None:
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = normal_interval([0.0, 1.0, 0.0, 1.0])
    half = 1.959963984540054 * math.sqrt(1 / 3) / 2
    assert (lo, hi) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))


def _ep(env: str, seed: int, sample: int, ok: bool, **kw: Any) -> Episode:
    return Episode(env, seed, sample, float(ok), ok, **kw)


def test_summary_averages_pass_at_k_over_tasks() -> None:
    eps = [_ep("e", 0, i, i < 1, turns=2, parse_errors=1 if i == 3 else 0) for i in range(4)]  # 1 of 4
    eps += [_ep("e", 1, i, i < 3, turns=1, generated_tokens=10) for i in range(4)]  # 3 of 4
    m = summarize(eps, k=2)
    assert m["tasks"] == 2 and m["episodes"] == 8
    assert m["pass@1"] == pytest.approx((0.25 + 0.75) / 2)
    assert m["pass@k"] == pytest.approx(((1 - 3 / 6) + 1.0) / 2)
    assert m["success_rate"] == pytest.approx(0.5)
    assert m["mean_turns"] == pytest.approx(1.5)
    assert m["parse_error_rate"] == pytest.approx(1 / 12)
    assert m["tokens_per_episode"] == pytest.approx(5.0)


def test_paired_difference_pairs_tasks_and_leaves_unshared_ones_out() -> None:
    # task 0: 0/2 -> 2/2, task 1: 1/2 -> 1/2, task 2: 2/2 -> 1/2; task 3 only after, task 4 only before
    before = [_ep("e", 0, i, False) for i in range(2)] + [_ep("e", 1, i, i == 0) for i in range(2)]
    before += [_ep("e", 2, i, True) for i in range(2)] + [_ep("e", 4, 0, True)]
    after = [_ep("e", 0, i, True) for i in range(2)] + [_ep("e", 1, i, i == 1) for i in range(2)]
    after += [_ep("e", 2, i, i == 0) for i in range(2)] + [_ep("e", 3, 0, True)]
    d = paired_difference(before, after)
    assert d["tasks"] == 3
    assert d["difference"] == pytest.approx((1.0 + 0.0 - 0.5) / 3)
    sd = math.sqrt(sum((x - 0.5 / 3) ** 2 for x in (1.0, 0.0, -0.5)) / 2)
    half = 1.959963984540054 * sd / math.sqrt(3)
    assert d["ci95"] == pytest.approx([0.5 / 3 - half, 0.5 / 3 + half])
    # the same tasks with the same outcomes: no change, and a zero-width interval
    same = paired_difference(before, before)
    assert same["difference"] == 0.0 and same["ci95"] == [0.0, 0.0] and same["tasks"] == 4


def test_report_gives_each_later_checkpoint_its_paired_change_from_the_first(tmp_path: Path) -> None:
    # kb-2hop seeds 7, 8: 0/2, 1/2 -> 2/2, 1/2; kb-3hop seed 7: 1/2 -> 0/2 (seed 8 only after: left out);
    # maze seed 7: 2/2 -> 2/2
    envs = ["tools-kb-2hop", "tools-kb-3hop", "plan-maze-5"]
    before = [_ep(envs[0], 7, i, False) for i in range(2)] + [_ep(envs[0], 8, i, i == 0) for i in range(2)]
    before += [_ep(envs[1], 7, i, i == 0) for i in range(2)] + [_ep(envs[2], 7, i, True) for i in range(2)]
    after = [_ep(envs[0], 7, i, True) for i in range(2)] + [_ep(envs[0], 8, i, i == 1) for i in range(2)]
    after += [_ep(envs[1], 7, i, False) for i in range(2)] + [_ep(envs[1], 8, i, True) for i in range(2)]
    after += [_ep(envs[2], 7, i, True) for i in range(2)]
    sft = build_result("sft", "a", envs, [7, 8], 2, 1, {}, before)
    rl = build_result("rl", "b", envs, [7, 8], 2, 1, {}, after)
    changes = paired_changes(sft, rl)
    assert changes["envs"][envs[0]]["difference"] == pytest.approx(0.5) and changes["envs"][envs[0]]["tasks"] == 2
    assert changes["envs"][envs[1]] == {"tasks": 1, "difference": -0.5, "ci95": [-0.5, -0.5]}
    assert changes["envs"][envs[2]]["difference"] == 0.0
    # tools pools kb-2hop and kb-3hop: per-task differences +1, 0, -0.5 over the 3 shared tasks
    tools = changes["families"]["tools"]
    assert tools["tasks"] == 3 and tools["difference"] == pytest.approx(0.5 / 3)
    assert tools["ci95"] == paired_difference(sft.episodes[:6], rl.episodes[:6])["ci95"]
    text = markdown_report([sft, rl])
    section = text.split("## Change from sft, paired per task")[1].split("##")[0]
    assert "| tools-kb-2hop | +50.0 [" in section and "| tools-kb-3hop | -50.0 [-50.0, -50.0] |" in section
    assert f"| **tools** (all) | {change_text(tools)} |" in section
    assert "## Change from" not in markdown_report([sft])  # nothing to compare with
    files = write_report([sft, rl], tmp_path, transcripts=False, plots=False)
    saved = json.loads(files.results.read_text())["changes_from_first"]
    assert saved["base"] == "sft" and saved["rl"]["families"]["planning"]["difference"] == 0.0


def test_eval_config_section() -> None:
    cfg = EvalConfig(envs=["tools", "plan-maze-5"], n=3, k=3, num_seeds=2)
    assert cfg.seeds() == [1_000_000, 1_000_001]
    assert "plan-maze-5" in cfg.env_ids() and "tools-kb-2hop" in cfg.env_ids()
    with pytest.raises(ValueError, match="k .* must be <= n"):
        EvalConfig(n=2, k=3)
    with pytest.raises(ValueError, match="unknown environment id"):
        EvalConfig(envs=["tools-nope"])
    rollout = RolloutConfig(engine_threads=1, workers=2)
    assert cfg.standalone_rollout(rollout) is rollout  # no eval.engine_threads: the rollout section's
    alone = EvalConfig(engine_threads=2).standalone_rollout(rollout)
    assert (alone.engine_threads, alone.workers, rollout.engine_threads) == (2, 2, 1)


# --- the oracle policy ---------------------------------------------------------------------------------------


def assistant_text(action: dict) -> str:
    """How a model writes `action` in this chat format (the template's assistant rendering, minus the header)."""
    msg = {"role": "assistant", "content": action.get("content", ""), "tool_calls": action.get("tool_calls") or []}
    return TOK.apply_chat_template([msg], tokenize=False).removeprefix(ASSISTANT)


class OracleEngine(Engine):
    """Writes the oracle's next action as text; keeps its own copy of the env, stepped in lockstep."""

    name = "oracle"

    def __init__(self, twin: Any):
        super().__init__()
        self.twin = twin

    async def generate(self, prompt_ids: list[int], params: GenParams) -> Generation:
        action = self.twin.oracle_action()
        self.twin.step(action)
        ids = TOK.encode(assistant_text(action), add_special_tokens=False)
        return Generation(ids, [0.0] * len(ids), "stop", self.version)


class OracleRunner:
    """A GroupRunner (the rollout worker's `run_group`) whose policy is every env's oracle."""

    def __init__(self) -> None:
        self.renderer = ChatRenderer(TOK)

    async def run_group(self, env_id, seed, group_size=None, group_id="", sample_seed=None, sampling=None):
        params = SamplingConfig.model_validate(sampling or {})
        out = []
        for i in range(group_size or 1):
            twin = environments.make(env_id)
            twin.reset(seed=seed)
            env = environments.make(env_id)
            try:
                out.append(await run_episode(OracleEngine(twin), env, self.renderer, params, env_id, seed, None, i))
            finally:
                env.close()
                twin.close()
        return out


def test_oracle_policy_scores_pass_at_1_on_every_registered_env(tmp_path: Path) -> None:
    ids = [s.id for s in environments.list_envs()]
    sampling = {"max_new_tokens": 200_000, "max_total_tokens": 2_000_000, "temperature": 1.0}
    result = evaluate(OracleRunner(), ids, [1_000_000], n=1, k=1, sampling=sampling, name="oracle")
    failing = {e: m["pass@1"] for e, m in result.envs.items() if m["pass@1"] != 1.0}
    assert not failing, failing
    assert set(result.envs) == set(ids) and set(result.families) == set(environments.families()) | {
        environments.spec(i).family for i in ids
    }
    assert result.overall["pass@1"] == 1.0 and result.overall["pass@k"] == 1.0
    assert result.overall["parse_error_rate"] == 0.0 and result.overall["episodes"] == len(ids)
    assert all(m["mean_reward"] == pytest.approx(1.0) for m in result.envs.values())
    assert all(m["success_ci95"][1] == 1.0 for m in result.envs.values())
    # the report of a single checkpoint (no Ray): JSON, markdown, plots and transcripts
    files = write_report([result], tmp_path, transcripts=True)
    data = json.loads(files.results.read_text())
    assert data["checkpoints"][0]["overall"]["pass@1"] == 1.0
    assert len(files.transcripts) == len(ids) and len(files.plots) == len(result.families)
    row = json.loads(files.transcripts[0].read_text().splitlines()[0])
    assert row["success"] and row["messages"][0]["role"] in {"system", "user"}


def test_build_result_orders_envs_and_pools_families() -> None:
    eps = [_ep("tools-kb-2hop", 7, 0, True), _ep("tools-kb-3hop", 7, 0, False), _ep("plan-maze-5", 7, 0, True)]
    r = build_result("x", "x", ["tools-kb-2hop", "tools-kb-3hop", "plan-maze-5"], [7], 1, 1, {}, eps)
    assert list(r.envs) == ["tools-kb-2hop", "tools-kb-3hop", "plan-maze-5"]
    assert r.families["tools"]["pass@1"] == 0.5 and r.families["planning"]["pass@1"] == 1.0
    assert r.scalars()["eval/all/pass@1"] == pytest.approx(2 / 3)


def test_pass_at_1_per_task_kind_in_the_result_and_the_report() -> None:
    # code seed 1 (caesar): 0/2; seeds 2, 3 (digit_sum): 2/2 and 1/2; the calculator has no kinds
    eps = [_ep("code-fn-easy", 1, i, False, task_kind="caesar") for i in range(2)]
    eps += [_ep("code-fn-easy", 2, i, True, task_kind="digit_sum") for i in range(2)]
    eps += [_ep("code-fn-easy", 3, i, i == 0, task_kind="digit_sum") for i in range(2)]
    eps += [_ep("tools-calculator-easy", 1, i, True) for i in range(2)]
    r = build_result("sft", "ckpt", ["code-fn-easy", "tools-calculator-easy"], [1, 2, 3], 2, 1, {}, eps)
    assert r.kinds == {
        "code-fn-easy": {
            "caesar": {"tasks": 1, "episodes": 2, "successes": 0, "pass@1": 0.0},
            "digit_sum": {"tasks": 2, "episodes": 4, "successes": 3, "pass@1": 0.75},
        }
    }
    assert r.as_dict()["kinds"] == r.kinds
    text = markdown_report([r])
    assert "| code-fn-easy | digit_sum | 75.0 (3/4) |" in text and "| code-fn-easy | caesar | 0.0 (0/2) |" in text
    assert "tools-calculator-easy |" not in text.split("## pass@1 per task kind")[1]


def test_checkpoint_arguments_are_named_uniquely(tmp_path: Path) -> None:
    from rl.eval.checkpoints import CheckpointError, parse_checkpoints

    for run in ("a", "b"):
        (tmp_path / run / "checkpoints" / "step-1").mkdir(parents=True)
        (tmp_path / run / "checkpoints" / "step-1" / "config.json").write_text("{}")
        (tmp_path / run / "checkpoints" / "step-1" / "model.safetensors").write_bytes(b"")
    a, b = (str(tmp_path / run / "checkpoints" / "step-1") for run in ("a", "b"))
    names = [c.name for c in parse_checkpoints([a, b, "nemotron-h-tiny", f"sft={a}", "nemotron-h-tiny"])]
    assert names == ["a-checkpoints-step-1", "b-checkpoints-step-1", "nemotron-h-tiny", "sft", "nemotron-h-tiny-2"]
    with pytest.raises(CheckpointError, match=r"'.*missing' does not exist.*'.*gone' does not exist"):
        parse_checkpoints([str(tmp_path / "missing"), "nemotron-h-tiny", str(tmp_path / "gone")])
