"""The `ray` config section and Ray start-up: a local instance by default, an existing cluster by address."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from rl.config.base import Section


class LearnerResources(Section):
    """Ray resources of the learner actor."""

    num_cpus: float = Field(default=1.0, ge=0.0)
    """CPUs reserved for the learner; its torch thread count too (at least 1)."""
    num_gpus: float = Field(default=0.0, ge=0.0)
    """GPUs reserved for the learner."""
    resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources, e.g. {"trainer_node": 1}."""


class RayConfig(Section):
    """Where the actors run."""

    address: str | None = None
    """An existing cluster ("auto" or "ray://host:10001"); None starts a local Ray instance."""
    num_cpus: int | None = Field(default=None, ge=1)
    """Logical CPUs of the local instance (None: Ray's detection). Ignored with an address."""
    learner: LearnerResources = Field(default_factory=LearnerResources)
    """Resources of the learner actor."""


def init_ray(cfg: RayConfig, env_vars: dict[str, str] | None = None) -> dict[str, Any]:
    """Start or join Ray (idempotent); returns the cluster's resources."""
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if env_vars:
            kwargs["runtime_env"] = {"env_vars": env_vars}
        if cfg.address:
            ray.init(address=cfg.address, **kwargs)
        else:
            ray.init(num_cpus=cfg.num_cpus, **kwargs)
    return ray.cluster_resources()
