"""SFT training: assistant-only labels through TRL's own dataset/collator path, and a short run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rl.config.loader import load_config, validate
from rl.config.run import RunConfig
from rl.policy.build import load_policy
from rollout.chat_format import TOOLS
from sft.data import Demo, oracle_demo, to_row
from sft.trainer import CONFIG_IN_CHECKPOINT, make_trainer, run_sft


def _expected_labels(tok, row: dict) -> list[int]:
    """Labels computed independently of TRL: render the conversation one message at a time (the template is
    prefix-stable) and keep only the ids of assistant messages after their `<|assistant|>` header."""
    tools = json.loads(row["tools"]) if row["tools"] else None
    labels: list[int] = []
    rendered = ""
    for i, m in enumerate(row["messages"]):
        text = tok.apply_chat_template(row["messages"][: i + 1], tools=tools, tokenize=False)
        piece = text[len(rendered) :]
        rendered = text
        ids = tok.encode(piece, add_special_tokens=False)
        if m["role"] != "assistant":
            labels += [-100] * len(ids)
        else:
            header = tok.encode("<|assistant|>", add_special_tokens=False)
            assert ids[: len(header)] == header
            labels += [-100] * len(header) + ids[len(header) :]
    return labels


def _config(tmp_path: Path, **sft) -> RunConfig:
    data = {
        "run": {"name": "t", "output_dir": str(tmp_path / "runs"), "seed": 0},
        "policy": {"name_or_path": "nemotron-h-tiny"},
        "sft": {"eval_seeds": 0, "batch_size": 2, "max_steps": 1, "logging_steps": 1, **sft},
    }
    return validate(RunConfig, data, "test")


def test_labels_cover_exactly_the_assistant_tokens(tmp_path: Path) -> None:
    from datasets import Dataset

    cfg = _config(tmp_path)
    model, tok = load_policy(cfg.policy)
    multi = oracle_demo("tools-units-direct", 1)  # user, assistant+call, tool, assistant+call, tool, assistant
    extra = Demo(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Add 2 and 3, then 4 and 5."},
            {
                "role": "assistant",
                "content": "Two calls.",
                "tool_calls": [
                    {"function": {"name": "calculate", "arguments": {"expression": "2+3"}}},
                    {"function": {"name": "calculate", "arguments": '{"expression": "4+5"}'}},
                ],
            },
            {"role": "tool", "content": "5"},
            {"role": "tool", "content": "9"},
            {"role": "user", "content": "And the sum?"},
            {"role": "assistant", "content": "14"},
        ],
        tools=oracle_demo("tools-calculator-easy", 0).tools,
    )
    rows = [to_row(multi), to_row(extra)]
    trainer = make_trainer(cfg, model, tok, Dataset.from_list(rows), tmp_path / "trainer")
    assert trainer.args.assistant_only_loss and not trainer.args.packing and not trainer.args.padding_free

    prepared = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    batch = trainer.data_collator(prepared)  # the collator the trainer uses (pads, keeps -100 labels)
    for row in rows:
        want_ids = tok.apply_chat_template(
            row["messages"], tools=json.loads(row["tools"]), tokenize=True, return_dict=False
        )
        i = next(k for k, p in enumerate(prepared) if p["input_ids"] == list(want_ids))
        n = len(want_ids)
        ids = batch["input_ids"][i, :n].tolist()
        labels = batch["labels"][i].tolist()
        assert ids == list(want_ids)
        assert labels[:n] == _expected_labels(tok, row)  # token by token
        assert all(x == -100 for x in labels[n:])  # padding carries no loss
        trained = tok.decode([t for t in labels if t != -100], skip_special_tokens=False)
        # no prompt, tool spec or tool result text is trained on; every assistant turn ends with <|end|>
        assert TOOLS not in trained and "<|user|>" not in trained and "<|tool|>" not in trained
        assert "conversion_table" not in trained.split("<|tool_call|>")[0]
        n_assistant = sum(m["role"] == "assistant" for m in row["messages"])
        assert trained.count("<|end|>") == n_assistant
        for m in row["messages"]:
            if m["role"] == "tool":
                assert m["content"] not in trained or m["content"] in "".join(
                    a["content"] + "".join(c["function"]["arguments"] for c in a["tool_calls"])
                    for a in row["messages"]
                    if a["role"] == "assistant"
                )


@pytest.mark.slow
def test_short_sft_run_lowers_loss_and_its_checkpoint_reloads_and_generates(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = _config(
        tmp_path,
        envs=[{"id": "tools-calculator-easy", "demos": 6}],
        max_steps=10,
        batch_size=3,
        learning_rate=3e-3,
        warmup_ratio=0.0,
        lr_scheduler="constant",
        max_length=1024,
        eval_seeds=1,
        eval_before=False,
        eval_sampling={"max_new_tokens": 16, "max_total_tokens": 1024},
    )
    result = run_sft(cfg, log=lambda _: None)
    assert result.steps == 10
    assert len(result.losses) == 10
    assert sum(result.losses[-3:]) / 3 < result.losses[0] * 0.7, result.losses

    folder = result.folder
    lines = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "loss" in x] == list(range(1, 11))
    assert list((folder / "tensorboard").glob("events.out.tfevents.*"))
    report = json.loads((folder / "eval.json").read_text())
    after = report["after"]["envs"]["tools-calculator-easy"]
    assert {"pass@1", "mean_reward", "parse_error_rate"} <= set(after)
    assert json.loads((folder / "data_report.json").read_text())["examples"] == 6

    ckpt = result.checkpoint
    assert load_config(ckpt / CONFIG_IN_CHECKPOINT).sft.max_steps == 10
    tok = AutoTokenizer.from_pretrained(ckpt, local_files_only=True)
    assert "{% generation %}" in tok.chat_template
    model = AutoModelForCausalLM.from_pretrained(ckpt, local_files_only=True)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Compute 100 + 200."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]


@pytest.mark.slow
def test_data_parallel_sft_trains_in_two_processes_and_saves_one_checkpoint(tmp_path: Path) -> None:
    """Two DDP processes (gloo on CPU): the step count is the global one (each process takes its share of every
    step), only the first process writes curves, the checkpoint reloads, and the trained weights differ from the
    initial ones."""
    from transformers import AutoModelForCausalLM

    cfg = _config(
        tmp_path,
        envs=[{"id": "tools-calculator-easy", "demos": 8}],
        max_steps=3,
        batch_size=2,
        num_processes=2,
        torch_threads=1,
        learning_rate=3e-3,
        warmup_ratio=0.0,
        max_length=1024,
    )
    result = run_sft(cfg, log=lambda _: None)
    assert result.steps == 3
    assert len(result.losses) == 3
    lines = [json.loads(x) for x in (result.folder / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "loss" in x] == [1, 2, 3]  # one process writes
    assert not (result.folder / "trainer").exists()

    trained = AutoModelForCausalLM.from_pretrained(result.checkpoint, local_files_only=True)
    initial, _ = load_policy(cfg.policy)
    changed = [
        name
        for (name, a), (_, b) in zip(trained.named_parameters(), initial.named_parameters(), strict=True)
        if not torch.equal(a, b)
    ]
    assert len(changed) > len(list(initial.parameters())) // 2


@pytest.mark.slow
def test_data_parallel_time_budget_stops_every_process_at_the_same_step(tmp_path: Path) -> None:
    """With a time budget the processes agree on the clock after each step: if they stopped at different steps the
    run would hang in the next gradient all-reduce instead of returning."""
    cfg = _config(
        tmp_path,
        envs=[{"id": "tools-calculator-easy", "demos": 8}],
        max_steps=None,
        epochs=1000,
        batch_size=1,
        num_processes=2,
        torch_threads=1,
        time_budget_s=4,
        max_length=1024,
    )
    result = run_sft(cfg, log=lambda _: None)
    assert result.train_s >= 4  # the budget stopped it, long before the 1000 epochs of 8 demos / 2 per step
    assert 1 <= result.steps < 1000 * 8 // 2
    assert result.train_s < 60
    summary = json.loads((result.folder / "summary.json").read_text())
    assert summary["steps"] == result.steps


def test_curriculum_phase_trains_first_on_its_own_data_and_batch_size(tmp_path: Path) -> None:
    """A curriculum phase runs before the main phase with its own batch size and steps, writes its own curves,
    and its training carries into the checkpoint (the same run without the phase ends elsewhere)."""
    phase = {"name": "copy", "envs": [{"id": "basic-copy-expression", "demos": 16}], "max_steps": 3, "batch_size": 8}
    common = {"envs": [{"id": "tools-calculator-easy", "demos": 4}], "max_steps": 2, "max_length": 1024}
    with_phase = run_sft(_config(tmp_path / "a", curriculum=[phase], **common), log=lambda _: None)
    assert with_phase.steps == 2
    assert [(p["name"], p["steps"]) for p in with_phase.phases] == [("copy", 3)]
    lines = [json.loads(x) for x in (with_phase.folder / "phases/copy/metrics.jsonl").read_text().splitlines()]
    steps = {x["step"]: x for x in lines if "loss" in x}
    assert sorted(steps) == [1, 2, 3]
    assert steps[2]["epoch"] == pytest.approx(1.0)  # 2 steps x batch 8 = the phase's 16 demos
    report = json.loads((with_phase.folder / "data_report.json").read_text())
    assert report["curriculum"]["copy"]["examples"] == 16
    assert report["examples"] == 4
    summary = json.loads((with_phase.folder / "summary.json").read_text())
    assert summary["phases"][0]["steps"] == 3
    assert not (with_phase.folder / "phases/copy/checkpoint").exists()  # one process: trained in place

    from transformers import AutoModelForCausalLM

    without = run_sft(_config(tmp_path / "b", **common), log=lambda _: None)
    a = AutoModelForCausalLM.from_pretrained(with_phase.checkpoint, local_files_only=True)
    b = AutoModelForCausalLM.from_pretrained(without.checkpoint, local_files_only=True)
    diff = sum((x - y).abs().sum().item() for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert diff > 0


def test_curriculum_phase_without_data_and_phase_seeds_in_the_held_out_range_are_config_errors(tmp_path: Path) -> None:
    from rl.config.errors import ConfigError

    with pytest.raises(ConfigError, match="curriculum.*needs demonstrations"):
        _config(tmp_path, curriculum=[{"name": "empty", "max_steps": 1}])
    with pytest.raises(ConfigError, match="overlap held-out eval seeds"):
        _config(
            tmp_path,
            envs=[{"id": "tools-calculator-easy", "demos": 4}],
            eval_seeds=4,
            eval_seed_start=100,
            curriculum=[{"envs": [{"id": "basic-copy-expression", "demos": 200}], "max_steps": 1}],
        )


@pytest.mark.slow
def test_data_parallel_curriculum_hands_the_phase_policy_to_the_main_phase(tmp_path: Path) -> None:
    """With two processes each phase ends in a checkpoint that the next phase's processes start from."""
    cfg = _config(
        tmp_path,
        envs=[{"id": "tools-calculator-easy", "demos": 4}],
        curriculum=[{"name": "copy", "envs": [{"id": "basic-copy-expression", "demos": 8}], "max_steps": 2}],
        warmup_ratio=0.0,  # a one-step main phase would otherwise take its step at learning rate 0
        batch_size=1,
        num_processes=2,
        torch_threads=1,
        max_length=1024,
    )
    result = run_sft(cfg, log=lambda _: None)
    assert result.steps == 1
    assert result.phases[0]["steps"] == 2
    phase_ckpt = result.folder / "phases/copy/checkpoint"
    assert (phase_ckpt / "config.json").exists()
    from transformers import AutoModelForCausalLM

    after_phase = AutoModelForCausalLM.from_pretrained(phase_ckpt, local_files_only=True)
    final = AutoModelForCausalLM.from_pretrained(result.checkpoint, local_files_only=True)
    initial, _ = load_policy(cfg.policy)
    moved = [not torch.equal(p, q) for p, q in zip(after_phase.parameters(), initial.parameters(), strict=True)]
    assert sum(moved) > len(moved) // 2  # the phase trained
    assert any(
        not torch.equal(p, q) for p, q in zip(final.parameters(), after_phase.parameters(), strict=True)
    )  # and the main phase went on from there


def test_every_curriculum_phase_field_overrides_an_sft_field(tmp_path: Path) -> None:
    """`phase_section` copies every phase field (but the name) onto the section: each must be an SFT field."""
    from sft.config import CurriculumPhase, SFTSection

    assert set(CurriculumPhase.model_fields) - {"name"} <= set(SFTSection.model_fields)
    cfg = _config(tmp_path, curriculum=[{"envs": [{"id": "basic-copy-numbers"}], "batch_size": 16, "max_steps": 7}])
    section = cfg.sft.phase_section(0)
    assert (section.batch_size, section.max_steps, section.curriculum) == (16, 7, [])
    assert [s.id for s in section.envs] == ["basic-copy-numbers"] and cfg.sft.phase_name(0) == "phase-1"
