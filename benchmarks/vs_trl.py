"""agentrl GRPO (synchronous and asynchronous) vs TRL's `GRPOTrainer`, side by side in one run.

    .venv/bin/python benchmarks/vs_trl.py [--steps 5] [--repeats 2] [--env plan-hanoi-3]

The same tiny policy (the nemotron-h-tiny preset, random init, built and saved once so both start from the same
weights), the same single-turn tasks (an agentrl env config registered here with `max_turns=1`, so one completion
per episode; prompts are the env's reset messages, rendered by the same chat template), the same reward (the
env's own verifier: `env.reset(seed)` then `env.step({"content": completion})`), the same group size, batch,
completion budget, temperature, clip range (0.2 / 0.28, token-mean loss, no KL) and AdamW settings.

- agentrl: `rl.train.train` with `max_staleness` 0 (synchronous, on-policy) and 1 (asynchronous), Ray learner
  and one rollout worker (transformers engine: vLLM's CPU build cannot serve Nemotron-H MoE);
- TRL: `trl.GRPOTrainer` on CPU with its transformers generation path (`use_vllm=False`), one process.

Reported per variant: median wall-clock per step (the first step is left out of the median: it pays the warm-up),
generated tokens/s, the reward curve against wall-clock time since training started, and the reward at equal
wall-clock (the mean reward of the steps each variant finished within the shortest run's training time). For
agentrl, the per-step split of time (learner step, weight sync, driver waiting for rollouts) is reported too.
Variants are interleaved (sync, TRL, async, then again with `--repeats 2`) and medians taken.

This module is also loaded by path on the Ray rollout workers (`rollout.env_modules`) to register the
single-turn env config there, so its top level imports only `environments`.
"""

from __future__ import annotations

import environments

SINGLE_TURN_SUFFIX = "-single"


def register_single_turn(env_id: str) -> str:
    """Register `<env_id>-single`: the same env class and parameters, with one turn only; returns its id."""
    new_id = env_id + SINGLE_TURN_SUFFIX
    spec = environments.registry.spec(env_id)
    if new_id not in {s.id for s in environments.registry.list_envs()}:
        environments.registry.register(
            new_id,
            spec.entry_point,
            family=spec.family,
            description=f"{spec.id}, one turn (vs_trl benchmark)",
            **{**spec.kwargs, "max_turns": 1},
        )
    return new_id


for _base in ("plan-hanoi-3", "tools-calculator-easy", "plan-blocksworld-3"):
    register_single_turn(_base)


def main() -> None:  # noqa: C901 (a benchmark script: setup, three variants, report)
    import argparse
    import statistics
    import tempfile
    import time
    from pathlib import Path

    from common import print_table, write_result

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--env", default="plan-hanoi-3", help="base env id (a single-turn copy is registered)")
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--groups-per-step", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--lr", type=float, default=2e-5)
    args = parser.parse_args()

    env_id = register_single_turn(args.env)
    tmp = Path(tempfile.mkdtemp(prefix="agentrl-vs-trl-"))
    from rl.policy.build import load_policy, save_policy
    from rl.policy.config import PolicyConfig

    model, tok = load_policy(PolicyConfig(name_or_path="nemotron-h-tiny"))
    policy_dir = save_policy(model, tok, tmp / "policy")
    n_params = sum(p.numel() for p in model.parameters())
    del model
    G, B = args.group_size, args.groups_per_step
    common_cfg = {
        "env": env_id,
        "policy": "nemotron-h-tiny (random init, saved once)",
        "params": n_params,
        "group_size": G,
        "groups_per_step": B,
        "completions_per_step": G * B,
        "max_new_tokens": args.max_new_tokens,
        "temperature": 1.0,
        "lr": args.lr,
        "clip": [0.2, 0.28],
        "loss": "token-mean PPO clip, no KL",
        "steps": args.steps,
        "repeats": args.repeats,
        "torch_threads": "TRL: torch default (all cores) in one process; agentrl: Ray actors (1 CPU each)",
    }

    def run_ours(staleness: int, rep: int) -> dict:
        import ray

        from rl.config.run import RunConfig
        from rl.train import train

        cfg = RunConfig.model_validate(
            {
                "run": {"name": f"ours-s{staleness}-r{rep}", "output_dir": str(tmp / "runs"), "seed": 0},
                "policy": {"name_or_path": str(policy_dir)},
                "rollout": {
                    "engine": "transformers",
                    "workers": 1,
                    "group_size": G,
                    "env_modules": [str(Path(__file__).resolve())],
                    "sampling": {"max_new_tokens": args.max_new_tokens, "max_total_tokens": 2048},
                },
                "algo": {
                    "steps": args.steps,
                    "groups_per_step": B,
                    "env_mix": {env_id: 1.0},
                    "max_staleness": staleness,
                    "lr": args.lr,
                    "dynamic_sampling": False,
                    "overlong_filter": False,
                    "micro_batch_sequences": G * B,
                },
                "loss": {"clip_low": 0.2, "clip_high": 0.28, "aggregation": "token_mean", "kl_beta": 0.0},
                "ray": {"num_cpus": 4},
            }
        )
        t0 = time.perf_counter()
        result = train(cfg, progress=False)
        wall = time.perf_counter() - t0
        ray.shutdown()
        h = result.history
        step_s = [r["time/step_s"] for r in h]
        cum, curve = 0.0, []
        for r, s in zip(h, step_s, strict=True):
            cum += s
            curve.append([round(cum, 3), r["reward/mean"]])
        tokens = [r["throughput/generated_tokens_per_s"] * r["time/step_s"] for r in h]
        return {
            "variant": f"agentrl async (max_staleness {staleness})" if staleness else "agentrl sync (max_staleness 0)",
            "wall_s": wall,
            "step_s": step_s,
            "gen_tokens": tokens,
            "curve": curve,
            "split": {k: [r[f"time/{k}_s"] for r in h] for k in ("train", "sync", "idle", "generation", "env", "step")},
        }

    def run_trl(rep: int) -> dict:
        import torch
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
        from trl import GRPOConfig, GRPOTrainer

        n_prompts = args.steps * B
        prompts, seeds = [], []
        for seed in range(n_prompts):  # the task seeds agentrl's TaskSampler hands out (0, 1, 2, ...)
            obs, _ = environments.make(env_id).reset(seed=seed)
            prompts.append(list(obs))
            seeds.append(seed)
        dataset = Dataset.from_dict({"prompt": prompts, "task_seed": seeds})

        def verifier_reward(prompts, completions, task_seed, **kw) -> list[float]:
            out = []
            for completion, seed in zip(completions, task_seed, strict=True):
                text = completion[-1]["content"] if isinstance(completion, list) else completion
                env = environments.make(env_id)
                env.reset(seed=int(seed))
                out.append(float(env.step({"content": text})[1]))
            return out

        marks: list[float] = []
        records: list[dict] = []

        class Clock(TrainerCallback):
            def on_train_begin(self, a, state, control, **kw):
                marks.append(time.perf_counter())

            def on_step_end(self, a, state, control, **kw):
                marks.append(time.perf_counter())

            def on_log(self, a, state, control, logs=None, **kw):
                if logs and "reward" in logs:
                    records.append(dict(logs))

        config = GRPOConfig(
            output_dir=str(tmp / f"trl-r{rep}"),
            use_cpu=True,
            bf16=False,
            max_steps=args.steps,
            per_device_train_batch_size=G * B,
            gradient_accumulation_steps=1,
            num_generations=G,
            max_completion_length=args.max_new_tokens,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            learning_rate=args.lr,
            lr_scheduler_type="constant",
            warmup_steps=0,
            weight_decay=0.0,
            max_grad_norm=1.0,
            optim="adamw_torch",
            beta=0.0,
            epsilon=0.2,
            epsilon_high=0.28,
            loss_type="dapo",
            num_iterations=1,
            shuffle_dataset=False,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=0,
            dataloader_num_workers=0,
        )
        torch.manual_seed(0)
        t0 = time.perf_counter()
        model = AutoModelForCausalLM.from_pretrained(policy_dir, dtype=torch.float32, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(policy_dir, local_files_only=True)
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=verifier_reward,
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[Clock()],
        )
        trainer.train()
        wall = time.perf_counter() - t0
        step_s = [b - a for a, b in zip(marks, marks[1:], strict=False)]
        cum, curve, tokens = 0.0, [], []
        for s, lg in zip(step_s, records, strict=False):
            cum += s
            curve.append([round(cum, 3), float(lg["reward"])])
            tokens.append(float(lg.get("completions/mean_length", 0.0)) * G * B)
        return {
            "variant": "TRL GRPOTrainer (transformers generate)",
            "wall_s": wall,
            "step_s": step_s,
            "gen_tokens": tokens,
            "curve": curve,
            "split": {},
        }

    runs: list[dict] = []
    for rep in range(args.repeats):
        for variant in ("sync", "trl", "async"):
            r = run_ours(0, rep) if variant == "sync" else run_trl(rep) if variant == "trl" else run_ours(1, rep)
            r["repeat"] = rep
            runs.append(r)
            print(
                f"{r['variant']} (repeat {rep}): wall {r['wall_s']:.1f}s, steps "
                + ", ".join(f"{s:.2f}" for s in r["step_s"]),
                flush=True,
            )

    def steady(step_s: list[float]) -> list[float]:
        return step_s[1:] if len(step_s) > 1 else step_s

    variants = list(dict.fromkeys(r["variant"] for r in runs))
    # equal wall-clock: the shortest training time (sum of step times) over all runs
    horizon = min(sum(r["step_s"]) for r in runs)
    rows = []
    for v in variants:
        rs = [r for r in runs if r["variant"] == v]
        step_med = statistics.median(s for r in rs for s in steady(r["step_s"]))
        tok_s = statistics.median(
            t / s for r in rs for t, s in zip(steady(r["gen_tokens"]), steady(r["step_s"]), strict=False)
        )
        at_h = [rew for r in rs for t, rew in r["curve"] if t <= horizon + 1e-9]
        row = {
            "variant": v,
            "step_s_median": step_med,
            "first_step_s": statistics.median(r["step_s"][0] for r in rs),
            "gen_tokens_per_s": tok_s,
            "reward_mean": statistics.mean(rew for r in rs for _, rew in r["curve"]),
            "reward_at_equal_wall": statistics.mean(at_h) if at_h else float("nan"),
            "steps_within_equal_wall": len(at_h) / len(rs),
            "total_wall_s": statistics.median(r["wall_s"] for r in rs),
        }
        split = [r["split"] for r in rs if r["split"]]
        if split:
            for k in ("train", "sync", "idle", "generation"):
                row[f"{k}_s_median"] = statistics.median(x for sp in split for x in steady(sp[k]))
        rows.append(row)
    trl = next(r for r in rows if r["variant"].startswith("TRL"))
    for row in rows:
        row["trl_step_over_this"] = trl["step_s_median"] / row["step_s_median"]
    main_keys = ("variant", "step_s_median", "gen_tokens_per_s", "reward_at_equal_wall", "trl_step_over_this")
    print_table(
        f"agentrl vs TRL GRPO ({env_id}, {G}x{B} completions/step, {args.max_new_tokens} new tokens)",
        [{k: row[k] for k in main_keys} for row in rows],
    )
    split_keys = ("variant", "step_s_median", "train_s_median", "sync_s_median", "idle_s_median")
    print_table(
        "where agentrl's step time goes", [{k: row[k] for k in split_keys} for row in rows if "train_s_median" in row]
    )
    for row in rows:
        print(f"{row['variant']}: {row['trl_step_over_this']:.2f}x TRL's per-step speed")
    path = write_result(
        "vs_trl",
        common_cfg,
        {"rows": rows, "equal_wall_horizon_s": horizon, "runs": runs},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
