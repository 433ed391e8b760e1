"""The base class of every config section: strict, documented, validated on assignment.

Field docstrings (the string literal under each field) become the field descriptions, which is what the
error messages and the generated config reference show.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        use_attribute_docstrings=True,
        frozen=False,
    )
