"""agentrl SFT stage: demonstrations (env oracles, chat JSONL) -> TRL SFTTrainer (assistant-only loss) -> checkpoint.

    from rl.config import load_config
    from sft import run_sft
    result = run_sft(load_config("configs/sft-tiny.yaml"))   # or: agentrl sft configs/sft-tiny.yaml

Modules: `sft.config` (the `sft` config section), `sft.data` (demos, validation, mixing, held-out check),
`sft.trainer` (the trainer and the run, curriculum phases first), `sft.data_parallel` (the same training in
`num_processes` DDP processes), `sft.callbacks` (curves, time budget), `sft.evaluate` (pass@1).
Heavy imports (torch, trl) happen only when `run_sft` is used.
"""

from __future__ import annotations

from typing import Any

from sft.config import CurriculumPhase, EnvSource, JsonlSource, SFTSection

__all__ = ["CurriculumPhase", "EnvSource", "JsonlSource", "SFTSection", "run_sft"]


def run_sft(*args: Any, **kwargs: Any) -> Any:
    """Run the SFT stage of a RunConfig (see `sft.trainer.run_sft`)."""
    from sft.trainer import run_sft as _run

    return _run(*args, **kwargs)
