"""The `policy` config section: which model to train and how to build it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rl.config.base import Section


class PolicyConfig(Section):
    """Which policy to build or load."""

    name_or_path: str = "nemotron-h-tiny"
    """A preset name (see `agentrl model-info --list`) built with random init, or a local Hugging Face
    checkpoint directory (an SFT output, an RL step, a downloaded Nemotron 3 model). Never downloaded."""

    overrides: dict[str, Any] = Field(default_factory=dict)
    """Hugging Face config fields that replace the preset's values (e.g. `hidden_size: 128`). Presets only."""

    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Parameter dtype. float32 on CPU (the only dtype the engine/learner logprob match is checked in)."""

    init_seed: int = Field(default=0, ge=0)
    """Seed of the random initialisation of a preset (ignored when loading a checkpoint directory)."""

    @field_validator("name_or_path")
    @classmethod
    def _known_preset_or_directory(cls, value: str) -> str:
        from rl.policy.presets import PRESETS

        if value in PRESETS:
            return value
        path = Path(value).expanduser()
        if path.is_dir():
            config_file = path / "config.json"
            if not config_file.is_file():
                raise ValueError(f"directory {value!r} has no config.json, so it is not a Hugging Face checkpoint")
            import json

            try:
                json.loads(config_file.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(f"checkpoint {value!r} is corrupt: config.json is not valid JSON ({exc})") from None
            weights = [*path.glob("*.safetensors"), *path.glob("pytorch_model*.bin")]
            if not weights:
                raise ValueError(f"checkpoint {value!r} has no weights (*.safetensors or pytorch_model*.bin)")
            return value
        if path.exists():
            raise ValueError(f"{value!r} is a file; expected a preset name or a checkpoint directory")
        raise ValueError(
            f"{value!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor an existing checkpoint directory"
        )

    @property
    def is_preset(self) -> bool:
        """True when the policy is built from a preset rather than loaded from a directory."""
        from rl.policy.presets import PRESETS

        return self.name_or_path in PRESETS

    @model_validator(mode="after")
    def _overrides_fit(self) -> PolicyConfig:
        from rl.policy.presets import PRESETS, check_overrides

        if self.overrides:
            if self.name_or_path not in PRESETS:
                raise ValueError("overrides apply to presets only; a checkpoint directory keeps its own config")
            check_overrides(PRESETS[self.name_or_path], self.overrides)
        return self
