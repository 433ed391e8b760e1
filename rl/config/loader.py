"""Load a YAML experiment config: `defaults:` inheritance, dotted command-line overrides, typed validation.

    cfg = load_config("configs/quickstart.yaml", ["run.seed=3", "policy.dtype=bfloat16"])

- `defaults: other.yaml` (or a list of files) at the top of a file merges those files first (paths are
  relative to the file that names them); the file's own keys win, dictionaries merge key by key, lists
  and scalars are replaced.
- An override `a.b.c=value` parses `value` as YAML (so `1e-5`, `true`, `[1, 2]` get their types).
- Any problem raises ConfigError naming the file, the dotted key and what was expected.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rl.config.errors import ConfigError, describe_validation_error

M = TypeVar("M", bound=BaseModel)


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Return `base` updated by `update`: nested dicts merge, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read one YAML file and everything its `defaults:` names, merged (the file's own keys win)."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise ConfigError(path, [f"defaults: cycle ({chain})"])
    if not path.is_file():
        where = f" (named in defaults of {_seen[-1]})" if _seen else ""
        raise ConfigError(path, [f"file not found{where}"])
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(path, [f"invalid YAML{at}: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(path, [f"the top level must be a mapping of sections, got {type(data).__name__}"])
    parents = data.pop("defaults", None) or []
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ConfigError(path, ["defaults: expected a file name or a list of file names"])
    merged: dict[str, Any] = {}
    for parent in parents:
        merged = deep_merge(merged, read_yaml_tree(path.parent / parent, (*_seen, resolved)))
    return deep_merge(merged, data)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], source: str = "overrides") -> dict[str, Any]:
    """Apply `dotted.key=value` strings to a nested dict (values parsed as YAML)."""
    out = copy.deepcopy(data)
    problems = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            problems.append(f"override '{item}': expected dotted.key=value")
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(f"override '{item}': {'.'.join(parts[: i + 1])} is a value, not a section")
                break
            node = child
        else:
            node[parts[-1]] = value
    if problems:
        raise ConfigError(source, problems)
    return out


def validate(model: type[M], data: dict[str, Any], source: str | Path | None) -> M:
    """Validate a plain dict against a config model, raising ConfigError with one line per problem."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, describe_validation_error(err, model)) from None


def load_config(path: str | Path, overrides: Sequence[str] = (), model: type[M] | None = None) -> M:
    """Read, merge, override and validate a config file (RunConfig by default)."""
    if model is None:
        from rl.config.run import RunConfig

        model = RunConfig  # type: ignore[assignment]
    data = read_yaml_tree(path)
    data = apply_overrides(data, overrides, source=f"{path} (command-line overrides)")
    return validate(model, data, path)  # type: ignore[arg-type]


def dump_config(cfg: BaseModel) -> str:
    """The fully resolved config as YAML (what each run folder records)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
