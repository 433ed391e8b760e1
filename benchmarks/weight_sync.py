"""Weight sync: seconds and bytes/s of a policy weight update vs parameter count, per engine and path.

    .venv/bin/python benchmarks/weight_sync.py [--repeats 3] [--vllm-budget-s 240] [--skip-vllm]

- transformers engine (`TransformersEngine.update_weights`, in-process): nemotron-h-tiny with overrides for
  hidden size / experts reaching ~0.5M, ~2M, ~8M, ~25M and ~50M parameters;
- vLLM engine (`VllmEngine.update_weights`, in-process engine core; vLLM's CPU build cannot serve Nemotron-H MoE,
  so granite-hybrid-tiny with overrides at ~0.8M, ~3M, ~12M, ~28M, ~49M). Each size runs in its own subprocess
  (a fresh vLLM); sizes are skipped once the vLLM part has used `--vllm-budget-s`, and the table says so;
- the Ray object-store path the trainer uses (`RolloutPool.update_weights` with 1 transformers worker: `ray.put`
  of the named tensors, the worker reads them from the object store and loads them) at two or three sizes.

The weights sent are a perturbed copy of the served ones (fp32, transformers' in-memory names, as the learner
sends them). Each point is the median of `--repeats` updates after one warm-up update; bytes/s = fp32 bytes of
all parameters / seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, print_table, write_result


def nemotron(h: int, experts: int, pattern: str | None = None) -> dict:
    """nemotron-h-tiny overrides scaled by hidden size and expert count."""
    ov = {
        "hidden_size": h,
        "mamba_num_heads": h // 16,
        "moe_latent_size": h // 2,
        "moe_intermediate_size": h,
        "moe_shared_expert_intermediate_size": 2 * h,
        "intermediate_size": 2 * h,
        "n_routed_experts": experts,
    }
    if pattern:
        ov["hybrid_override_pattern"] = pattern
    return ov


def granite(h: int, experts: int) -> dict:
    """granite-hybrid-tiny overrides scaled by hidden size and expert count."""
    return {
        "hidden_size": h,
        "mamba_n_heads": h // 16,
        "shared_intermediate_size": 2 * h,
        "intermediate_size": h // 2,
        "num_local_experts": experts,
    }


NEMOTRON_SIZES = {
    "~0.5M": nemotron(64, 8),
    "~2M": nemotron(128, 16, "MEM*EMEM*E"),
    "~8M": nemotron(256, 8),
    "~25M": nemotron(384, 16),
    "~50M": nemotron(512, 24),
}
GRANITE_SIZES = {
    "~0.8M": granite(64, 8),
    "~3M": granite(128, 8),
    "~12M": granite(256, 8),
    "~28M": granite(384, 8),
    "~49M": granite(512, 8),
}
RAY_SIZES = ("~2M", "~8M", "~25M")


def save(preset: str, overrides: dict, target: Path) -> tuple[Path, list, int]:
    """Build the preset with overrides, save it; returns (dir, perturbed named tensors, parameter count)."""
    import torch

    from rl.policy.build import load_policy, save_policy
    from rl.policy.config import PolicyConfig

    model, tok = load_policy(PolicyConfig(name_or_path=preset, overrides=overrides))
    path = save_policy(model, tok, target)
    items = [(n, p.detach().clone() + 1e-3 * torch.randn_like(p)) for n, p in model.named_parameters()]
    return Path(path), items, sum(p.numel() for p in model.parameters())


def time_updates(update, repeats: int) -> list[float]:
    """Seconds of each of `repeats` updates, after one warm-up."""
    update(0)
    out = []
    for v in range(1, repeats + 1):
        t0 = time.perf_counter()
        update(v)
        out.append(time.perf_counter() - t0)
    return out


def row(engine: str, path: str, size: str, params: int, secs: list[float]) -> dict:
    s = statistics.median(secs)
    return {
        "engine": engine,
        "path": path,
        "size": size,
        "params_M": params / 1e6,
        "MB": params * 4 / 1e6,
        "sync_s": s,
        "MB_per_s": params * 4 / 1e6 / s,
    }


def bench_transformers(tmp: Path, repeats: int) -> list[dict]:
    from rollout.engines.transformers_engine import TransformersEngine

    rows = []
    for size, ov in NEMOTRON_SIZES.items():
        path, items, n = save("nemotron-h-tiny", ov, tmp / f"nemotron{size}")
        engine = TransformersEngine(path)
        secs = time_updates(lambda v, e=engine, it=items: asyncio.run(e.update_weights(it, v)), repeats)
        engine.close()
        rows.append(row("transformers", "in-process", size, n, secs))
        print(rows[-1], flush=True)
    return rows


def vllm_one(size: str, repeats: int) -> None:
    """Subprocess entry: one vLLM size, prints one JSON row."""
    from rollout.config import VllmOptions
    from rollout.engines.vllm_engine import VllmEngine

    tmp = Path(tempfile.mkdtemp(prefix="agentrl-wsync-vllm-"))
    path, items, n = save("granite-hybrid-tiny", GRANITE_SIZES[size], tmp / "policy")
    t0 = time.perf_counter()
    engine = VllmEngine(path, VllmOptions(max_model_len=512))
    start_s = time.perf_counter() - t0
    secs = time_updates(lambda v: asyncio.run(engine.update_weights(items, v)), repeats)
    out = row("vllm", "in-process", size, n, secs)
    out["engine_start_s"] = start_s
    print("ROW " + json.dumps(out), flush=True)


def bench_vllm(repeats: int, budget_s: float) -> tuple[list[dict], list[str]]:
    rows, skipped = [], []
    t_start = time.perf_counter()
    for size in GRANITE_SIZES:
        if time.perf_counter() - t_start > budget_s:
            skipped.append(f"{size} (vLLM budget of {budget_s:.0f}s used)")
            continue
        proc = subprocess.run(
            [sys.executable, __file__, "--vllm-one", size, "--repeats", str(repeats)],
            capture_output=True,
            text=True,
            cwd=ROOT / "benchmarks",
            timeout=600,
        )
        found = [line[4:] for line in proc.stdout.splitlines() if line.startswith("ROW ")]
        if not found:
            skipped.append(f"{size} (failed: {proc.stderr.strip()[-300:]})")
            continue
        rows.append(json.loads(found[0]))
        print(rows[-1], flush=True)
    return rows, skipped


def bench_ray(tmp: Path, repeats: int) -> list[dict]:
    import ray

    from rollout.config import RolloutConfig
    from rollout.pool import RolloutPool

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    rows = []
    try:
        for size in RAY_SIZES:
            path, items, n = save("nemotron-h-tiny", NEMOTRON_SIZES[size], tmp / f"ray{size}")
            pool = RolloutPool(path, RolloutConfig(workers=1, engine="transformers"))
            secs = time_updates(lambda v, p=pool, it=items: p.update_weights(it, v), repeats)
            pool.shutdown()
            rows.append(row("transformers", "Ray object store (RolloutPool, 1 worker)", size, n, secs))
            print(rows[-1], flush=True)
    finally:
        ray.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vllm-budget-s", type=float, default=240.0)
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--vllm-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vllm_one:
        vllm_one(args.vllm_one, args.repeats)
        return
    tmp = Path(tempfile.mkdtemp(prefix="agentrl-wsync-"))
    rows = bench_transformers(tmp, args.repeats)
    skipped: list[str] = []
    if args.skip_vllm:
        skipped = [f"{s} (--skip-vllm)" for s in GRANITE_SIZES]
    else:
        vrows, skipped = bench_vllm(args.repeats, args.vllm_budget_s)
        rows += vrows
    rows += bench_ray(tmp, args.repeats)
    print_table("weight sync: seconds and MB/s vs parameters (fp32)", rows)
    if skipped:
        print("vLLM sizes skipped: " + "; ".join(skipped))
    path = write_result(
        "weight_sync",
        {
            "repeats": args.repeats,
            "nemotron_sizes": NEMOTRON_SIZES,
            "granite_sizes": GRANITE_SIZES,
            "ray_sizes": list(RAY_SIZES),
            "vllm_budget_s": args.vllm_budget_s,
        },
        {"rows": rows, "vllm_skipped": skipped},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
