"""SFT-data replay for the GRPO loss (`algo.replay`; InstructGPT's PPO-ptx term).

When training starts the driver plays each replay env's oracle on the demonstration seeds and renders every
episode with the policy's chat template into token ids plus the assistant mask: the same tokens and loss mask
a rollout of that conversation has (`rollout.agent_loop`; tests/test_agent_loop.py checks the equality).
Each step draws `sequences_per_step` of them by env weight, seeded by (run seed, step), so a resumed run draws
what the uninterrupted one would have; the learner adds `coef` times their mean negative log-likelihood per
assistant token to the policy loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rl.eval.config import EvalConfig
from rl.grpo.config import ReplayConfig

ReplaySequence = tuple[list[int], list[int]]
"""Token ids and loss mask (1 on assistant tokens) of one demonstration."""


class ReplaySeedError(ValueError):
    """Replay demonstration seeds overlap the held-out eval seeds."""


@dataclass
class ReplaySet:
    """The rendered demonstrations of every replay env, and the per-step draw."""

    sequences: dict[str, list[ReplaySequence]]
    weights: dict[str, float]
    per_step: int
    seed: int = 0

    def draw(self, step: int) -> list[ReplaySequence]:
        """The replay sequences of training step `step` (the same for the same seed and step)."""
        rng = np.random.default_rng([self.seed, step])
        envs = sorted(self.sequences)
        p = np.array([self.weights[e] for e in envs], dtype=float)
        picks = rng.choice(len(envs), size=self.per_step, p=p / p.sum())
        out = []
        for i in picks:
            pool = self.sequences[envs[i]]
            out.append(pool[int(rng.integers(len(pool)))])
        return out

    def describe(self) -> str:
        """One line for the log: demonstrations per env and the draw per step."""
        per_env = ", ".join(f"{e} {len(s)}" for e, s in sorted(self.sequences.items()))
        return f"{self.per_step} per step from {per_env} oracle demonstrations"


def render_demo(tokenizer, messages: list[dict], tools: list[dict] | None) -> ReplaySequence:
    """Token ids and assistant mask of a conversation under the tokenizer's chat template."""
    out = tokenizer.apply_chat_template(
        messages, tools=tools or None, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
    if not any(mask):
        raise ValueError("the chat template marks no assistant tokens ({% generation %} spans): nothing to replay")
    return ids, mask


def build_replay(
    cfg: ReplayConfig,
    tokenizer_dir: str | Path,
    held_out: EvalConfig | None = None,
    seed: int = 0,
) -> ReplaySet | None:
    """Play and render the replay demonstrations (None when `cfg.envs` is empty). A replay env among the `held_out`
    eval section's envs whose demonstration seeds overlap its held-out seeds raises ReplaySeedError, and an
    unknown env id raises the registry's error, before any training."""
    if not cfg.envs:
        return None
    import environments
    from sft.data import play_oracles, to_row

    for env_id in cfg.envs:
        try:
            environments.spec(env_id)
        except environments.UnknownEnvError as exc:
            raise environments.UnknownEnvError(f"algo.replay.envs: {exc}") from None
    seeds = range(cfg.seed_start, cfg.seed_start + cfg.demos)
    held_ids, held_seeds = (held_out.env_ids(), held_out.seeds()) if held_out is not None else ([], [])
    held = range(min(held_seeds), max(held_seeds) + 1) if held_seeds else range(0)
    for env_id in held_ids:
        if env_id in cfg.envs and seeds.start < held.stop and held.start < seeds.stop:
            raise ReplaySeedError(
                f"algo.replay: the demonstration seeds of {env_id} [{seeds.start}, {seeds.stop}) overlap its held-out"
                f" eval seeds [{held.start}, {held.stop}); move algo.replay.seed_start or eval.seed_offset"
            )
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    sequences = {}
    for env_id in cfg.envs:
        demos = play_oracles(env_id, seeds)
        sequences[env_id] = [render_demo(tok, to_row(d)["messages"], d.tools) for d in demos]
    return ReplaySet(sequences, dict(cfg.envs), cfg.sequences_per_step, seed)
