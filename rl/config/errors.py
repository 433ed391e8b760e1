"""The one exception type for bad configs, formatted so a user can fix the file without reading a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """A config could not be loaded or validated. `str(err)` names the file, the dotted key and the fix."""

    exit_code = 2

    def __init__(self, source: str | Path | None, problems: Iterable[str]):
        self.source = str(source) if source is not None else "<config>"
        self.problems = list(problems)
        super().__init__(self._format())

    def _format(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        lines = [f"{self.source}: {len(self.problems)} problems"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the key at `loc` (for 'did you mean' suggestions)."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = field.annotation
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def describe_validation_error(err: ValidationError, model: type[BaseModel]) -> list[str]:
    """Turn a pydantic ValidationError into one readable line per problem: dotted key, what was expected."""
    problems = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc) or "<root>"
        if e["type"] == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            hint = ""
            if owner is not None:
                close = difflib.get_close_matches(str(loc[-1]), list(owner.model_fields), n=1)
                hint = f" (did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?)" if close else ""
                hint += f"; allowed keys here: {', '.join(owner.model_fields)}"
            problems.append(f"{key}: unknown key{hint}")
            continue
        got = e.get("input")
        shown = repr(got)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        msg = e["msg"].removeprefix("Value error, ")
        problems.append(f"{key}: {msg}" if e["type"] == "value_error" else f"{key}: {msg} (got {shown})")
    return problems
