"""The config reference (docs/config-reference.md), generated from the pydantic field docs of RunConfig.

`agentrl config reference > docs/config-reference.md` regenerates it; tests/test_config.py keeps the committed
file equal to the generated text, so the reference never drifts from the code.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return "required"
    if isinstance(value, BaseModel):
        return "(section)"
    try:
        return f"`{json.dumps(value, default=str)}`"
    except TypeError:
        return f"`{value}`"


def _constraints(field: Any) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "min length")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sym} {value}")
    return ", ".join(parts)


def _section(model: type[BaseModel], prefix: str, out: list[str]) -> None:
    rows, nested = [], []
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if _is_model(field.annotation):
            nested.append((key, field))
            continue
        doc = " ".join((field.description or "").split())
        rows.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {_constraints(field)} | {doc} |")
    if rows:
        out += [
            f"## `{prefix}`" if prefix else "## top level",
            "",
            inspect.cleandoc(model.__doc__ or ""),
            "",
            "| key | type | default | bounds | description |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    for key, field in nested:
        _section(field.annotation, key, out)


def config_reference() -> str:
    """The whole reference as markdown."""
    from rl.config.run import RunConfig

    out = [
        "# Config reference",
        "",
        "Generated from the pydantic models (`agentrl config reference`); do not edit by hand.",
        "Every key can be set in a YAML file (sections nest) or on the command line as `section.key=value`.",
        "",
    ]
    _section(RunConfig, "", out)
    return "\n".join(out).rstrip() + "\n"
