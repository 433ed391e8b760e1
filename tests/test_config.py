"""Typed configs: every shipped YAML validates; inheritance, overrides and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from rl.cli import app
from rl.config import ConfigError, dump_config, load_config
from rl.config.run import RunConfig

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))


def test_there_are_configs() -> None:
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)


def _sections(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            found += _sections(ann)
    return found


def test_every_field_has_a_description() -> None:
    for section in _sections(RunConfig):
        for name, field in section.model_fields.items():
            assert field.description, f"{section.__name__}.{name} has no docstring"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_inheritance_merges_sections_and_child_wins(tmp_path: Path) -> None:
    write(tmp_path, "parent.yaml", "run: {name: parent, seed: 5}\npolicy: {init_seed: 3, dtype: bfloat16}\n")
    child = write(tmp_path, "child.yaml", "defaults: parent.yaml\nrun: {name: child}\n")
    cfg = load_config(child)
    assert cfg.run.name == "child"
    assert cfg.run.seed == 5
    assert cfg.policy.init_seed == 3 and cfg.policy.dtype == "bfloat16"


def test_defaults_chain_and_list(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "run: {seed: 1}\n")
    write(tmp_path, "b.yaml", "policy: {init_seed: 2}\n")
    write(tmp_path, "c.yaml", "defaults: [a.yaml, b.yaml]\nrun: {name: c}\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    d = write(sub, "d.yaml", "defaults: ../c.yaml\n")
    cfg = load_config(d)
    assert (cfg.run.seed, cfg.policy.init_seed, cfg.run.name) == (1, 2, "c")


def test_defaults_cycle_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "x.yaml", "defaults: y.yaml\n")
    y = write(tmp_path, "y.yaml", "defaults: x.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(y)


def test_missing_defaults_file_is_named(tmp_path: Path) -> None:
    child = write(tmp_path, "child.yaml", "defaults: nowhere.yaml\n")
    with pytest.raises(ConfigError) as exc:
        load_config(child)
    assert "nowhere.yaml" in str(exc.value) and "child.yaml" in str(exc.value)


def test_overrides_are_typed(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "run: {name: x}\n")
    cfg = load_config(path, ["run.seed=7", "policy.overrides.hidden_size=64", "run.output_dir=/tmp/out"])
    assert cfg.run.seed == 7
    assert cfg.policy.overrides == {"hidden_size": 64}
    assert str(cfg.run.output_dir) == "/tmp/out"


def test_typo_key_names_file_dotted_key_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "typo.yaml", "run: {nmae: x}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert "typo.yaml" in msg and "run.nmae" in msg and "did you mean 'run.name'" in msg


def test_unknown_section_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", "polcy: {dtype: float32}\n")
    with pytest.raises(ConfigError, match=r"polcy: unknown key \(did you mean 'policy'\?\)"):
        load_config(path)


def test_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "run: {seed: many}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert "t.yaml" in msg and "run.seed" in msg and "integer" in msg and "'many'" in msg


def test_bounds_are_enforced(tmp_path: Path) -> None:
    path = write(tmp_path, "b.yaml", "run: {seed: -1}\n")
    with pytest.raises(ConfigError, match=r"run\.seed: Input should be greater than or equal to 0"):
        load_config(path)


def test_bad_override_is_reported_against_the_override(tmp_path: Path) -> None:
    path = write(tmp_path, "o.yaml", "run: {name: x}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, ["run.name.deeper=1", "noequals"])
    msg = str(exc.value)
    assert "command-line overrides" in msg and "run.name is a value" in msg and "noequals" in msg


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "run:\n  name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid YAML at line \d+"):
        load_config(path)


def test_unknown_policy_lists_presets(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "policy: {name_or_path: gpt-17}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "policy.name_or_path" in str(exc.value) and "nemotron-h-tiny" in str(exc.value)


def test_policy_directory_without_config_json_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    path = write(tmp_path, "p.yaml", f"policy: {{name_or_path: {tmp_path / 'ckpt'}}}\n")
    with pytest.raises(ConfigError, match="no config.json"):
        load_config(path)


def test_resolved_config_round_trips_through_yaml(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS[0], ["run.seed=11"])
    again = RunConfig.model_validate(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


def test_cli_config_show_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["config", "show", str(CONFIGS[0]), "run.seed=4"])
    assert ok.exit_code == 0, ok.output
    assert yaml.safe_load(ok.stdout)["run"]["seed"] == 4
    bad = write(tmp_path, "bad.yaml", "run: {sed: 1}\n")
    res = runner.invoke(app, ["config", "show", str(bad)])
    assert res.exit_code == 2
    assert "run.sed" in res.stderr and "bad.yaml" in res.stderr
    missing = runner.invoke(app, ["config", "show", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "file not found" in missing.stderr


def test_config_reference_is_in_sync_with_the_code() -> None:
    from rl.config.reference import config_reference

    committed = (Path(__file__).resolve().parents[1] / "docs" / "config-reference.md").read_text()
    assert committed == config_reference(), "regenerate: agentrl config reference > docs/config-reference.md"
    for section in ("run", "policy", "rollout", "rollout.sampling", "algo", "loss", "ray", "sft", "eval"):
        assert f"## `{section}`" in committed
