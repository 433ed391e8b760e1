"""What `agentrl eval` accepts as a checkpoint, checked before anything heavy starts, and made loadable.

A checkpoint is a preset name (random init, written to a directory first because the engines load directories),
a Hugging Face checkpoint directory (an SFT output, an RL step, a downloaded model), or `NAME=PATH` to choose
the name it gets in the report.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class CheckpointError(ValueError):
    """A checkpoint argument that is neither a preset nor a checkpoint directory."""


@dataclass
class Checkpoint:
    """One checkpoint to evaluate."""

    name: str
    """Its name in the report and the transcript folder."""
    spec: str
    """The argument as given."""
    path: Path | None = None
    """The checkpoint directory (None for a preset not yet written)."""
    preset: str | None = None
    """The preset name when the checkpoint is a random-init preset."""


def safe_name(text: str) -> str:
    """`text` reduced to letters, digits, '.', '_' and '-' (for file names)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return out or "checkpoint"


def _one(spec: str) -> Checkpoint | str:
    from rl.policy.presets import PRESETS

    label, path_text = None, spec
    if "=" in spec and not Path(spec).exists():
        head, _, tail = spec.partition("=")
        if NAME_RE.match(head):
            label, path_text = head, tail
    if path_text in PRESETS:
        return Checkpoint(label or path_text, spec, preset=path_text)
    path = Path(path_text).expanduser()
    if path.is_dir():
        from pydantic import ValidationError

        from rl.policy.config import PolicyConfig

        try:  # the same checks as training: config.json present and valid, weights present
            PolicyConfig(name_or_path=str(path))
        except ValidationError as exc:
            return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        name = label or safe_name(path.resolve().name)
        return Checkpoint(name, spec, path=path)
    if path.exists():
        return f"{path_text!r} is a file; expected a preset name or a checkpoint directory"
    presets = ", ".join(sorted(PRESETS))
    return f"checkpoint {path_text!r} does not exist (expected a checkpoint directory or a preset: {presets})"


def parse_checkpoints(specs: list[str]) -> list[Checkpoint]:
    """Check every argument (all problems reported at once, as a CheckpointError) and name them uniquely."""
    if not specs:
        raise CheckpointError("no checkpoints given")
    parsed = [_one(s) for s in specs]
    problems = [p for p in parsed if isinstance(p, str)]
    if problems:
        raise CheckpointError("; ".join(problems))
    ckpts = [p for p in parsed if isinstance(p, Checkpoint)]
    counts = Counter(c.name for c in ckpts)
    for name, count in counts.items():  # runs/a/.../step-100 and runs/b/.../step-100: add parent folders
        same = [c for c in ckpts if c.name == name and c.path is not None and name == safe_name(c.path.resolve().name)]
        if count < 2 or len(same) < 2:
            continue
        parts = [c.path.resolve().parts for c in same if c.path is not None]
        for depth in range(2, max(len(p) for p in parts) + 1):
            names = [safe_name("-".join(p[-depth:])) for p in parts]
            if len(set(names)) == len(names):
                break
        for c, new in zip(same, names, strict=True):
            c.name = new
    seen: Counter[str] = Counter()
    for c in ckpts:
        seen[c.name] += 1
        if seen[c.name] > 1:
            c.name = f"{c.name}-{seen[c.name]}"
    return ckpts


def materialize(ckpt: Checkpoint, root: Path, init_seed: int = 0) -> Path:
    """The checkpoint's directory; a preset is built (random init, `init_seed`) and saved under `root` first."""
    if ckpt.path is not None:
        return ckpt.path
    import json

    from rl.policy.build import METADATA_FILE, load_policy, save_policy
    from rl.policy.config import PolicyConfig

    dest = root / ckpt.name
    meta = dest / METADATA_FILE
    wanted = {"preset": ckpt.preset, "init_seed": init_seed}
    if not meta.is_file() or json.loads(meta.read_text()) != wanted:
        model, tok = load_policy(PolicyConfig(name_or_path=ckpt.preset, init_seed=init_seed))
        save_policy(model, tok, dest, metadata=wanted)
    ckpt.path = dest
    return dest
