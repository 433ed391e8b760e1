"""The environment registry: one place where env configs are registered, listed and made.

An env config is a named environment class plus parameters (difficulty, sizes, max turns):

    register("tools-calculator-easy", "environments.tools.calculator:CalculatorEnv", digits=2, max_turns=4)
    env = make("tools-calculator-easy", max_turns=6)          # overrides replace registered defaults

Every registration is mirrored into gymnasium's registry as `agentrl/<id>`, so
`gymnasium.make("agentrl/tools-calculator-easy")` works once `environments` is imported. Third-party packages
add configs through the entry-point group `agentrl.environments` (an entry point names a module, which
registers on import, or a callable, which is called); `load_plugins()` runs them.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium

log = logging.getLogger(__name__)

GYM_NAMESPACE = "agentrl"
PLUGIN_GROUP = "agentrl.environments"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*[a-z0-9]$")


@dataclass(frozen=True)
class EnvSpec:
    """A registered env config."""

    id: str
    entry_point: str | Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    family: str = "misc"
    description: str = ""
    source: str = "agentrl"
    """'agentrl' for built-in configs, else the plugin distribution that registered it."""

    @property
    def gym_id(self) -> str:
        """The id in gymnasium's registry."""
        return f"{GYM_NAMESPACE}/{self.id}"

    def env_class(self) -> type:
        """The environment class (imports it)."""
        if callable(self.entry_point):
            return self.entry_point  # type: ignore[return-value]
        module, _, attr = self.entry_point.partition(":")
        return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, EnvSpec] = {}
_current_source = "agentrl"


class UnknownEnvError(KeyError):
    """An env id that is not registered; the message lists close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(
    id: str,
    entry_point: str | Callable[..., Any],
    *,
    family: str | None = None,
    description: str = "",
    **defaults: Any,
) -> EnvSpec:
    """Register an env config (and mirror it into gymnasium as `agentrl/<id>`)."""
    if not ID_PATTERN.match(id) or re.search(r"-v\d+$", id):
        raise ValueError(f"env id {id!r} must be lowercase letters, digits, '-', '_' or '.', and must not end in -v<N>")
    if isinstance(entry_point, str) and ":" not in entry_point:
        raise ValueError(f"entry point {entry_point!r} must look like 'package.module:ClassName'")
    spec = EnvSpec(
        id=id,
        entry_point=entry_point,
        kwargs=dict(defaults),
        family="",
        description=description,
        source=_current_source,
    )
    if family is None:
        family = getattr(spec.env_class(), "family", "misc")
    spec = EnvSpec(
        id=id,
        entry_point=entry_point,
        kwargs=dict(defaults),
        family=family,
        description=description,
        source=_current_source,
    )
    old = _REGISTRY.get(id)
    if old is not None and old != spec:
        raise ValueError(f"env id {id!r} is already registered (by {old.source}) with a different config")
    _REGISTRY[id] = spec
    if spec.gym_id not in gymnasium.registry:
        gymnasium.register(id=spec.gym_id, entry_point=entry_point, kwargs=dict(defaults))
    return spec


def unregister(id: str) -> None:
    """Remove an env config (from gymnasium's registry too); unknown ids are ignored."""
    removed = _REGISTRY.pop(id, None)
    if removed is not None:
        gymnasium.registry.pop(removed.gym_id, None)


def spec(id: str) -> EnvSpec:
    """The spec of a registered env id, or UnknownEnvError naming close matches."""
    _ensure_loaded()
    try:
        return _REGISTRY[id]
    except KeyError:
        close = difflib.get_close_matches(id, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `agentrl envs list` shows the registered ids"
        raise UnknownEnvError(f"unknown environment id {id!r}{hint}") from None


def make(id: str, **overrides: Any):
    """Instantiate a registered env config; `overrides` replace its registered parameters."""
    s = spec(id)
    return s.env_class()(**{**s.kwargs, **overrides})


def list_envs(family: str | None = None) -> list[EnvSpec]:
    """Registered env configs (optionally of one family), sorted by id."""
    _ensure_loaded()
    return sorted((s for s in _REGISTRY.values() if family is None or s.family == family), key=lambda s: s.id)


def families() -> list[str]:
    """Families with at least one registered env config."""
    return sorted({s.family for s in list_envs()})


def resolve_ids(selectors: list[str] | tuple[str, ...]) -> list[str]:
    """Expand env ids and family names (e.g. ['tools', 'code-fn-easy']) into env ids, in order, no repeats."""
    _ensure_loaded()
    out: list[str] = []
    fams = set(families())
    for sel in selectors:
        ids = [s.id for s in list_envs(sel)] if sel in fams else [spec(sel).id]
        out += [i for i in ids if i not in out]
    return out


BUILTIN_MODULES = (
    "environments.basic",
    "environments.tools",
    "environments.code",
    "environments.planning",
    "environments.bench",
)
_loaded = False


def load_env_modules(modules: list[str] | tuple[str, ...]) -> None:
    """Import modules that register env configs: dotted module names, or paths to .py files (so a local
    one-file env works on Ray workers without packaging). Each is imported once per process."""
    import importlib.util
    import sys
    from pathlib import Path

    for item in modules:
        if item.endswith(".py") or "/" in item:
            path = Path(item).expanduser().resolve()
            if not path.is_file():
                raise FileNotFoundError(f"env module file {item!r} does not exist")
            name = f"agentrl_env_module_{abs(hash(str(path)))}"
            if name in sys.modules:
                continue
            spec_ = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec_)
            sys.modules[name] = module
            spec_.loader.exec_module(module)
        else:
            importlib.import_module(item)


def load_plugins() -> list[str]:
    """Run every `agentrl.environments` entry point; returns the names loaded. A broken plugin is logged."""
    global _current_source
    loaded = []
    for ep in md.entry_points(group=PLUGIN_GROUP):
        _current_source = ep.dist.name if ep.dist else ep.value
        try:
            obj = ep.load()
            if callable(obj):
                obj()
            loaded.append(ep.name)
        except Exception as exc:
            log.warning("environment plugin %s (%s) failed to load: %s", ep.name, ep.value, exc)
        finally:
            _current_source = "agentrl"
    return loaded


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    load_plugins()
