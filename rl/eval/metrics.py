"""Evaluation metrics: the unbiased pass@k estimator, confidence intervals, and per-group summaries.

pass@k (Chen et al., 2021): with n samples of one task of which c succeed, the probability that at least one of
k samples drawn without replacement succeeds is ``1 - C(n - c, k) / C(n, k)``; averaging that over tasks is an
unbiased estimate of pass@k. pass@1 reduces to c / n. Success-rate intervals are Wilson score intervals (sensible
at 0 and 1 and for small n); mean-reward intervals are normal approximations (mean +- z * sd / sqrt(n)).

Two checkpoints evaluated on the same task seeds are compared by the paired difference of their per-task pass@1
(`paired_difference`): the tasks differ far more from each other (which function, which numbers) than two
checkpoints differ on one task, so pairing removes the between-task spread that two separate intervals carry.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

Z95 = 1.959963984540054
"""The two-sided 95% normal quantile."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one task from `n` samples with `c` successes: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k: need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k: need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ((0, 1) when there are no trials)."""
    if total <= 0:
        return (0.0, 1.0)
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= total else min(1.0, centre + half)
    return (lo, hi)


def normal_interval(values: Sequence[float], z: float = Z95) -> tuple[float, float]:
    """mean +- z * sd / sqrt(n) (sample sd); a zero-width interval for fewer than two values."""
    n = len(values)
    if n == 0:
        return (0.0, 0.0)
    mean = sum(values) / n
    if n < 2:
        return (mean, mean)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return (mean - z * sd / math.sqrt(n), mean + z * sd / math.sqrt(n))


@dataclass
class Episode:
    """One evaluated episode: what the metrics and the transcripts need (no token ids)."""

    env_id: str
    seed: int
    sample: int
    """Index of this sample among the n samples of its task seed."""
    reward: float
    success: bool
    reward_components: dict[str, float] = field(default_factory=dict)
    task_kind: str = ""
    """The task's kind in its env (a code env's function template); "" for envs without kinds."""
    turns: int = 0
    finish: str = ""
    parse_errors: int = 0
    tool_calls: int = 0
    generated_tokens: int = 0
    total_tokens: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def from_trajectory(cls, traj: Any, sample: int) -> Episode:
        """The episode record of a rollout `Trajectory`."""
        return cls(
            env_id=traj.env_id,
            seed=traj.seed,
            sample=sample,
            reward=float(traj.reward),
            success=bool(traj.success),
            reward_components=dict(traj.reward_components),
            task_kind=traj.task_kind,
            turns=traj.turns,
            finish=traj.finish or ("error" if traj.error else ""),
            parse_errors=traj.parse_errors,
            tool_calls=traj.tool_calls,
            generated_tokens=traj.generated_tokens,
            total_tokens=len(traj.token_ids),
            messages=list(traj.messages),
            tools=list(traj.tools),
            error=traj.error,
        )


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def summarize(episodes: Sequence[Episode], k: int) -> dict[str, Any]:
    """Metrics of a set of episodes (one env config, a family, or everything).

    Tasks are (env id, seed) pairs; pass@1 and pass@k are averaged over tasks (each task weighs the same), the
    other rates over episodes. Tasks with fewer than k samples are left out of pass@k (None when none has k).
    """
    tasks: dict[tuple[str, int], list[Episode]] = defaultdict(list)
    for e in episodes:
        tasks[(e.env_id, e.seed)].append(e)
    n_ep = len(episodes)
    successes = sum(e.success for e in episodes)
    rewards = [e.reward for e in episodes]
    turns = sum(e.turns for e in episodes)
    per_task_1 = [pass_at_k(len(es), sum(x.success for x in es), 1) for es in tasks.values()]
    per_task_k = [pass_at_k(len(es), sum(x.success for x in es), k) for es in tasks.values() if len(es) >= k]
    components: dict[str, list[float]] = defaultdict(list)
    for e in episodes:
        for name, value in e.reward_components.items():
            components[name].append(float(value))
    lo, hi = wilson_interval(successes, n_ep)
    rlo, rhi = normal_interval(rewards)
    return {
        "episodes": n_ep,
        "tasks": len(tasks),
        "k": k,
        "pass@1": _mean(per_task_1),
        "pass@k": _mean(per_task_k) if per_task_k else None,
        "success_rate": successes / n_ep if n_ep else 0.0,
        "success_ci95": [lo, hi],
        "mean_reward": _mean(rewards),
        "reward_ci95": [rlo, rhi],
        "reward_components": {name: _mean(vs) for name, vs in sorted(components.items())},
        "mean_turns": turns / n_ep if n_ep else 0.0,
        "parse_error_rate": sum(e.parse_errors for e in episodes) / turns if turns else 0.0,
        "episodes_with_parse_error": _mean(float(e.parse_errors > 0) for e in episodes),
        "tool_calls_per_episode": _mean(e.tool_calls for e in episodes),
        "tokens_per_episode": _mean(e.generated_tokens for e in episodes),
        "total_tokens_per_episode": _mean(e.total_tokens for e in episodes),
        "finish": dict(sorted(Counter(e.finish or "unknown" for e in episodes).items())),
        "errors": sum(e.error is not None for e in episodes),
    }


def kind_pass1(episodes: Iterable[Episode]) -> dict[str, dict[str, Any]]:
    """pass@1 per task kind (averaged over the kind's tasks), with its task, episode and success counts."""
    by_kind: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        by_kind[e.task_kind or "-"].append(e)
    out = {}
    for kind, eps in sorted(by_kind.items()):
        per_task = per_task_pass1(eps)
        out[kind] = {
            "tasks": len(per_task),
            "episodes": len(eps),
            "successes": sum(e.success for e in eps),
            "pass@1": _mean(per_task.values()),
        }
    return out


def per_task_pass1(episodes: Iterable[Episode]) -> dict[tuple[str, int], float]:
    """pass@1 of each task, keyed by (env id, seed)."""
    tasks: dict[tuple[str, int], list[bool]] = defaultdict(list)
    for e in episodes:
        tasks[(e.env_id, e.seed)].append(e.success)
    return {t: sum(s) / len(s) for t, s in tasks.items()}


def paired_difference(before: Iterable[Episode], after: Iterable[Episode], z: float = Z95) -> dict[str, Any]:
    """pass@1 of `after` minus pass@1 of `before` over the tasks both played, with a 95% normal interval of the
    mean per-task difference. Tasks only one side played are left out (`tasks` counts the shared ones)."""
    a, b = per_task_pass1(before), per_task_pass1(after)
    shared = sorted(set(a) & set(b))
    diffs = [b[t] - a[t] for t in shared]
    lo, hi = normal_interval(diffs, z)
    return {"tasks": len(shared), "difference": _mean(diffs), "ci95": [lo, hi]}
