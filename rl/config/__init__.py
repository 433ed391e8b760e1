"""Typed experiment configs: YAML files with `defaults:` inheritance and dotted overrides.

The top-level model is `rl.config.run.RunConfig` (imported from there, so that section modules elsewhere
can build on `rl.config.base` without import cycles).
"""

from rl.config.base import Section
from rl.config.errors import ConfigError
from rl.config.loader import apply_overrides, deep_merge, dump_config, load_config, read_yaml_tree, validate

__all__ = [
    "ConfigError",
    "Section",
    "apply_overrides",
    "deep_merge",
    "dump_config",
    "load_config",
    "read_yaml_tree",
    "validate",
]
