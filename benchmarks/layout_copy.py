"""Can a policy layout learn to copy from its prompt? Prompt-copy accuracy after a fixed training budget, per layout.

    .venv/bin/python benchmarks/layout_copy.py [--steps 400] [--layouts M*EM*EM*E,M*EMEMEMEMEM*E,MEMEM*EMEMEM*E]

Every tool task needs the policy to copy operands and results out of its context into tool calls and answers
(`Compute 830 + 177.` -> `{"expression": "830 + 177"}`). This trains each nemotron-h-tiny layout (same
width; the layouts differ in where the attention layers sit and how many there are) from the same seed on the
shortest such task, a user message `Compute A + B.` answered by `A + B` (3-digit A, B, the chat template of
the presets), and reports teacher-forced token accuracy and exact-sequence rate on 128 held-out prompts after
`--steps` AdamW steps, plus the wall time of each run (a ratio between layouts is meaningful; the absolute
seconds are this machine's).

Deliberately simplified: a synthetic task instead of an env's demonstrations, so the result isolates the layout.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from common import print_table, write_result

DEFAULT_LAYOUTS = "M*EM*EM*E,M*EMEMEMEMEM*E,MEMEM*EMEMEM*E"


def copy_example(tok: Any, rng: random.Random) -> tuple[list[int], list[int]]:
    """Token ids and assistant mask of one `Compute A + B.` -> `A + B` conversation."""
    expr = f"{rng.randint(100, 999)} + {rng.randint(100, 999)}"
    out = tok.apply_chat_template(
        [{"role": "user", "content": f"Compute {expr}."}, {"role": "assistant", "content": expr}],
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    return out["input_ids"], out["assistant_masks"]


def collate(tok: Any, items: list[tuple[list[int], list[int]]]) -> tuple[Any, Any, Any]:
    """Right-padded input ids, labels (-100 outside the assistant span) and attention mask."""
    import torch

    length = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), length), tok.pad_token_id)
    labels = torch.full((len(items), length), -100)
    att = torch.zeros((len(items), length), dtype=torch.long)
    for row, (seq, mask) in enumerate(items):
        t = torch.tensor(seq)
        ids[row, : len(seq)] = t
        labels[row, : len(seq)] = torch.where(torch.tensor(mask).bool(), t, torch.tensor(-100))
        att[row, : len(seq)] = 1
    return ids, labels, att


def run_layout(layout: str, steps: int, batch: int, lr: float, seed: int) -> dict[str, Any]:
    """Train one layout on the copy task and measure held-out accuracy."""
    import torch

    from rl.policy.build import load_policy
    from rl.policy.config import PolicyConfig

    model, tok = load_policy(
        PolicyConfig(name_or_path="nemotron-h-tiny", init_seed=seed, overrides={"hybrid_override_pattern": layout})
    )
    held = collate(tok, [copy_example(tok, random.Random(1_000_000 + i)) for i in range(128)])
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    t0 = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 20)
        ids, labels, att = collate(tok, [copy_example(tok, rng) for _ in range(batch)])
        model(input_ids=ids, attention_mask=att, labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    train_s = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        ids, labels, att = held
        pred = model(input_ids=ids, attention_mask=att).logits[:, :-1].argmax(-1)
    mask = labels[:, 1:] != -100
    ok = (pred == ids[:, 1:]) & mask
    return {
        "layout": layout,
        "steps": steps,
        "token_accuracy": ok.sum().item() / mask.sum().item(),
        "exact_sequences": ((ok | ~mask).all(-1)).float().mean().item(),
        "train_s": round(train_s, 1),
    }


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layouts", default=DEFAULT_LAYOUTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [run_layout(lay, args.steps, args.batch, args.lr, args.seed) for lay in args.layouts.split(",")]
    print_table("prompt-copy after a fixed budget", rows)
    print(f"wrote {write_result('layout_copy', vars(args), rows)}")


if __name__ == "__main__":
    main()
