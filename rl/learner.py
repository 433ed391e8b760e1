"""The Learner: the Ray actor holding the policy being trained, its optimizer and (optionally) a reference.

The driver never holds the model: it sends trajectories with advantages, gets statistics back, and passes the
learner's weights (an object-store reference) straight to the rollout workers. One `step` is one optimizer
step over the whole batch (gradient accumulation over micro-batches of sequences), or `algo.updates_per_step`
of them (PPO epochs), and one policy version.
Logprobs are recomputed on the exact token ids of each trajectory (right padding; causal models, so padding
never affects real positions), with logits divided by the sampling temperature, by `rl.logprobs` (only from
the first loss token on, and a prompt the micro-batch's rows share forwarded once).
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from rl.grpo.config import AlgoConfig, LossConfig
from rl.grpo.loss import offpolicy_weights, policy_loss
from rl.logprobs import token_logprobs
from rl.policy.build import DTYPES
from rollout.trajectory import Trajectory

STATE_FILE = "learner_state.pt"
ROUTER_NAME_PARTS = (".gate.weight", ".router.weight", ".router.layer.weight", "e_score_correction_bias")


def pad_sequences(sequences: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    """Right-padded tensors of (token ids, loss mask) rows: input_ids, attention_mask and loss mask ([B, T])."""
    width = max(len(ids) for ids, _ in sequences)
    ids = torch.zeros(len(sequences), width, dtype=torch.long)
    attn = torch.zeros(len(sequences), width, dtype=torch.long)
    mask = torch.zeros(len(sequences), width)
    for i, (tokens, loss_mask) in enumerate(sequences):
        n = len(tokens)
        ids[i, :n] = torch.tensor(tokens)
        attn[i, :n] = 1
        mask[i, :n] = torch.tensor(loss_mask, dtype=torch.float32)
    return {"input_ids": ids, "attention_mask": attn, "mask": mask}


def pad_batch(trajs: list[Trajectory]) -> dict[str, torch.Tensor]:
    """Right-padded tensors: input_ids, attention_mask, loss mask and behaviour logprobs ([B, T])."""
    batch = pad_sequences([(t.token_ids, t.loss_mask) for t in trajs])
    behaviour = torch.zeros_like(batch["mask"])
    for i, t in enumerate(trajs):
        behaviour[i, : len(t.token_ids)] = torch.tensor(t.logprobs, dtype=torch.float32)
    return {**batch, "behaviour": behaviour}


def micro_batches(trajs: list[Trajectory], size: int) -> list[list[int]]:
    """Indices of consecutive trajectories, at most `size` per micro-batch, never two groups in one: the samples
    of a group share their prompt, which `token_logprobs` then forwards once."""
    chunks: list[list[int]] = []
    for i, t in enumerate(trajs):
        last = chunks[-1] if chunks else None
        if last is None or len(last) >= size or t.group_id != trajs[last[-1]].group_id:
            chunks.append([i])
        else:
            last.append(i)
    return chunks


class ExpertLoad:
    """Counts which experts each MoE router picks during forward passes (token fraction per expert)."""

    def __init__(self, model: torch.nn.Module):
        self.counts: dict[str, torch.Tensor] = {}
        self.handles = []
        for name, module in model.named_modules():
            cls = type(module).__name__
            if cls.endswith("TopkRouter") or cls.endswith("TopKGating") or cls.endswith("Router"):
                self.handles.append(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def hook(module, args, output):
            outs = output if isinstance(output, tuple) else (output,)
            idx = next((o for o in outs if isinstance(o, torch.Tensor) and not o.is_floating_point()), None)
            if idx is None:
                return
            n = getattr(module, "num_experts", None) or int(idx.max()) + 1
            c = torch.bincount(idx.flatten().cpu(), minlength=n).float()
            self.counts[name] = self.counts.get(name, torch.zeros(n)) + c

        return hook

    def stats(self) -> dict[str, float]:
        """Per layer: entropy of the expert distribution (nats), max/mean load; then reset."""
        out: dict[str, float] = {}
        for i, (_name, c) in enumerate(sorted(self.counts.items())):
            if c.sum() == 0:
                continue
            p = c / c.sum()
            out[f"moe/layer{i}/entropy"] = float(-(p[p > 0] * p[p > 0].log()).sum())
            out[f"moe/layer{i}/max_over_mean"] = float(p.max() / p.mean())
        if out:
            ents = [v for k, v in out.items() if k.endswith("entropy")]
            out["moe/entropy_mean"] = float(np.mean(ents))
            out["moe/entropy_max_possible"] = math.log(len(next(iter(self.counts.values()))))
        self.counts = {}
        return out


class LearnerImpl:
    """Policy, optimizer, scheduler, optional frozen reference; one `step` per policy version."""

    def __init__(
        self,
        policy_path: str | Path,
        algo: AlgoConfig | dict,
        loss: LossConfig | dict,
        temperature: float = 1.0,
        constant_normalizer: int | None = None,
        seed: int = 0,
        dtype: str = "float32",
        threads: int | None = None,
    ):
        if threads:
            torch.set_num_threads(threads)  # Ray pins actors to one thread unless told otherwise
        self.algo = algo if isinstance(algo, AlgoConfig) else AlgoConfig.model_validate(algo)
        self.loss_cfg = loss if isinstance(loss, LossConfig) else LossConfig.model_validate(loss)
        torch.manual_seed(seed)
        dt = DTYPES[dtype]
        self.model = AutoModelForCausalLM.from_pretrained(policy_path, dtype=dt, local_files_only=True)
        self.model.train()
        self.frozen = []
        if self.algo.freeze_router:
            for name, p in self.model.named_parameters():
                if any(part in name for part in ROUTER_NAME_PARTS):
                    p.requires_grad_(False)
                    self.frozen.append(name)
        self.ref = None
        if self.loss_cfg.kl_beta > 0:
            self.ref = AutoModelForCausalLM.from_pretrained(policy_path, dtype=dt, local_files_only=True).eval()
            self.ref.requires_grad_(False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=self.algo.lr, weight_decay=self.algo.weight_decay)
        warm = self.algo.warmup_steps
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0)
        self.temperature = temperature
        self.constant_normalizer = constant_normalizer
        self.version = 0
        self.expert_load = ExpertLoad(self.model)

    # --- weights ---------------------------------------------------------------------------------------------
    def weights(self) -> list[tuple[str, torch.Tensor]]:
        """Named parameters (transformers names), detached CPU copies."""
        return [(n, p.detach().to("cpu", copy=True)) for n, p in self.model.named_parameters()]

    def get_version(self) -> int:
        """The current policy version."""
        return self.version

    def parameter_checksum(self) -> float:
        """Sum of all parameters (for tests that check training changed something)."""
        return float(sum(p.detach().double().sum() for p in self.model.parameters()))

    # --- the step --------------------------------------------------------------------------------------------
    def replay_loss(self, sequences: list[tuple[list[int], list[int]]]) -> torch.Tensor:
        """`algo.replay.coef` times the mean negative log-likelihood per loss token of demonstration sequences
        (token ids, loss mask), at temperature 1 (the SFT loss), with gradients."""
        b = pad_sequences(sequences)
        lp, _ = token_logprobs(self.model, b["input_ids"], b["attention_mask"], 1.0, mask=b["mask"])
        return -(lp * b["mask"]).sum() / b["mask"].sum().clamp(min=1.0) * self.algo.replay.coef

    def step(
        self,
        trajs: list[Trajectory],
        advantages: list[float],
        replay: list[tuple[list[int], list[int]]] | None = None,
    ) -> dict[str, float]:
        """`algo.updates_per_step` optimizer updates on the batch; returns statistics and bumps the version.
        `replay` (token ids, loss mask) sequences add the SFT-data replay term (`algo.replay`) to every update."""
        if len(trajs) != len(advantages):
            raise ValueError("one advantage per trajectory")
        mb = self.algo.micro_batch_sequences
        passes = self.algo.updates_per_step
        cfg = self.loss_cfg
        chunks = micro_batches(trajs, mb)
        total_tokens = sum(sum(t.loss_mask) for t in trajs)
        self.model.train()
        fixed: list[dict | None] = [None] * len(chunks)
        agg: dict[str, float] = {}
        grad_norms: list[float] = []
        for epoch in range(passes):
            self.opt.zero_grad(set_to_none=True)
            for c, idx in enumerate(chunks):
                f = fixed[c]
                b = f["batch"] if f else pad_batch([trajs[i] for i in idx])
                lp, ent = token_logprobs(
                    self.model, b["input_ids"], b["attention_mask"], self.temperature, True, b["mask"]
                )
                if f is None:
                    # The proximal policy is the learner at the start of the step. The weights only change
                    # after the first pass's last micro-batch, so its forward pass with gradients already gives
                    # the proximal logprobs (detached): no separate no-grad pass is needed. Later passes reuse
                    # them, with the reference logprobs and the off-policy weights.
                    prox_lp = lp.detach()
                    weights, mask, off = offpolicy_weights(prox_lp, b["behaviour"], b["mask"], cfg)
                    ref_lp = None
                    if self.ref is not None:
                        with torch.no_grad():
                            ref_lp, _ = token_logprobs(
                                self.ref, b["input_ids"], b["attention_mask"], self.temperature, mask=b["mask"]
                            )
                    f = fixed[c] = {
                        "batch": b,
                        "adv": torch.tensor([advantages[i] for i in idx], dtype=torch.float32),
                        "old": prox_lp if cfg.decoupled else b["behaviour"],
                        "weights": weights if cfg.decoupled else None,
                        "mask": mask,
                        "ref": ref_lp,
                        "off": off,
                    }
                loss, stats = policy_loss(
                    lp,
                    f["old"],
                    f["adv"],
                    f["mask"],
                    cfg,
                    weights=f["weights"],
                    ref_logprobs=f["ref"],
                    entropy=ent,
                    constant_normalizer=self.constant_normalizer,
                )
                # token-weighted accumulation so each pass equals one pass over the whole batch
                share = (
                    float(b["mask"].sum()) / max(1.0, total_tokens)
                    if cfg.aggregation == "token_mean"
                    else (len(idx) / len(trajs))
                )
                (loss * share).backward()
                stats["entropy"] = float((ent.detach() * f["mask"]).sum() / f["mask"].sum().clamp(min=1.0))
                # loss statistics are averaged over the passes; the off-policy ones exist once per step
                weighted = [(stats, share / passes)] + ([(f["off"], share)] if epoch == 0 else [])
                for part, w in weighted:
                    for k, v in part.items():
                        if k.endswith("_max"):
                            agg[k] = max(agg.get(k, 0.0), v)
                        elif k.endswith("masked_tokens"):
                            agg[k] = agg.get(k, 0.0) + v
                        else:
                            agg[k] = agg.get(k, 0.0) + v * w
            if replay:
                term = self.replay_loss(replay)
                term.backward()
                agg["replay/nll"] = agg.get("replay/nll", 0.0) + float(term.detach()) / self.algo.replay.coef / passes
            grad_norm = torch.nn.utils.clip_grad_norm_(
                [p for p in self.model.parameters() if p.requires_grad], self.algo.grad_clip
            )
            self.opt.step()
            self.sched.step()
            grad_norms.append(float(grad_norm))
        self.version += 1
        agg.update(
            {
                "grad_norm": sum(grad_norms) / len(grad_norms),
                "lr": self.sched.get_last_lr()[0],
                "tokens": float(total_tokens),
                "sequences": float(len(trajs)),
                "version": float(self.version),
            }
        )
        agg.update(self.expert_load.stats())
        return agg

    # --- checkpoints -----------------------------------------------------------------------------------------
    def save(self, directory: str | Path, tokenizer_dir: str | Path) -> str:
        """Write an HF checkpoint directory (model + tokenizer) plus the optimizer/scheduler/RNG state."""
        from transformers import AutoTokenizer

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory, safe_serialization=True)
        AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True).save_pretrained(directory)
        torch.save(
            {
                "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(),
                "version": self.version,
                "torch_rng": torch.get_rng_state(),
                "numpy_rng": np.random.get_state(),
                "python_rng": random.getstate(),
            },
            directory / STATE_FILE,
        )
        return str(directory)

    def load(self, directory: str | Path) -> int:
        """Restore weights, optimizer, scheduler, RNG states and version from `save`; returns the version."""
        directory = Path(directory)
        loaded = AutoModelForCausalLM.from_pretrained(directory, dtype=self.model.dtype, local_files_only=True)
        self.model.load_state_dict(loaded.state_dict())
        state = torch.load(directory / STATE_FILE, weights_only=False)
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        random.setstate(state["python_rng"])
        self.version = int(state["version"])
        return self.version

    def pid(self) -> int:
        """Process id (tests kill the learner by it)."""
        return os.getpid()


def remote_learner_class():
    """The Ray actor class of `LearnerImpl`."""
    import ray

    return ray.remote(LearnerImpl)
