"""The learner's logprob forward: a full forward over every column, against logits only from the first loss
column, against that plus a group's shared prompt forwarded once (`rl.logprobs`, the shipped path), in one run.

    .venv/bin/python benchmarks/learner_step.py [--policy CKPT] [--steps 3] [--repeats 2]

A step is `LearnerImpl.step` on 4 groups x 8 sequences (grpo-tiny's batch, micro-batches of 8, with the k3 KL
reference forward), built from real episodes' token ids: each group's prompt is the chat-rendered opening of one
task of grpo-tiny's mix, and its 8 completions are the env oracle's answer cut at random lengths. One torch
thread, as the learner runs in the shipped configs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import numpy as np
import torch
from common import policy_dir, print_table, write_result
from transformers import AutoTokenizer

import environments
import rl.logprobs
from rl.learner import LearnerImpl
from rollout.agent_loop import ChatRenderer
from rollout.trajectory import Trajectory

MIX = ["code-fn-easy", "code-fn-easy", "tools-calculator-easy", "plan-blocksworld-3"]
GROUP = 8


def batch(renderer: ChatRenderer, seed: int) -> list[Trajectory]:
    rng = np.random.default_rng(seed)
    trajs = []
    for g, env_id in enumerate(MIX):
        env = environments.make(env_id)
        try:
            obs, info = env.reset(seed=seed * 100 + g)
            prompt = renderer.prompt_ids(list(obs), info.get("tools") or [])
            answer = renderer.encode(str(env.unwrapped.oracle_action().get("content") or ""))
        finally:
            env.close()
        for _ in range(GROUP):
            n = int(rng.integers(max(1, len(answer) // 3), len(answer) + 1))
            t = Trajectory(env_id=env_id, seed=g)
            t.append(prompt, generated=False)
            t.append(answer[:n], generated=True, logprobs=[-1.0] * n, version=0)
            trajs.append(t)
    return trajs


def variants():
    real = rl.logprobs.token_logprobs

    def full(model, ids, attn, temperature, with_entropy=False, mask=None, share_prefix=True):
        return real(model, ids, attn, temperature, with_entropy)  # every column, no sharing

    def columns(model, ids, attn, temperature, with_entropy=False, mask=None, share_prefix=True):
        return real(model, ids, attn, temperature, with_entropy, mask, share_prefix=False)

    return {"full forward": full, "from first loss column": columns, "+ shared prompt (shipped)": real}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", default=None, help="checkpoint directory (default: random-init nemotron-h-tiny)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = policy_dir(args.policy)
    renderer = ChatRenderer(AutoTokenizer.from_pretrained(path, local_files_only=True))
    batches = [batch(renderer, s) for s in range(args.steps)]
    prompt_tokens = sum(t.loss_mask.index(1) for b in batches for t in b)
    total_tokens = sum(len(t.token_ids) for b in batches for t in b)
    times: dict[str, list[float]] = {name: [] for name in variants()}
    for _ in range(args.repeats):  # interleaved, so machine noise hits every variant alike
        for name, fn in variants().items():
            learner = LearnerImpl(path, {"lr": 5e-4, "micro_batch_sequences": 8}, {"kl_beta": 0.1}, seed=0)
            with mock.patch("rl.learner.token_logprobs", fn):
                for b in batches:
                    t0 = time.perf_counter()
                    learner.step(b, [float(i % 3 - 1) for i in range(len(b))])
                    times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["full forward"])
    rows = [
        {
            "variant": name,
            "median_step_s": statistics.median(ts),
            "speedup_vs_full": base / statistics.median(ts),
        }
        for name, ts in times.items()
    ]
    print(f"prompt tokens: {prompt_tokens} of {total_tokens} ({prompt_tokens / total_tokens:.0%})")
    print_table("learner step, 4 groups x 8 sequences", rows)
    write_result(
        "learner_step",
        {
            "policy": str(args.policy or "random-init nemotron-h-tiny"),
            "steps": args.steps,
            "repeats": args.repeats,
            "groups": MIX,
            "group_size": GROUP,
            "prompt_token_share": prompt_tokens / total_tokens,
        },
        {"rows": rows, "raw_s": times},
    )


if __name__ == "__main__":
    main()
