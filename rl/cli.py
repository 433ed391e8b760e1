"""The `agentrl` command line. Subcommands are added as features land; each one does real work.

Bad input (a config typo, an unknown preset, a missing directory) prints one message naming the problem and
exits with code 2 before anything heavy starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rl.config.errors import ConfigError

app = typer.Typer(
    name="agentrl",
    help="RL post-training of agent models: SFT, asynchronous GRPO, evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect experiment configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")
envs_app = typer.Typer(help="List, check and play agent environments.", no_args_is_help=True)
app.add_typer(envs_app, name="envs")

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error message and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _version_callback(value: bool) -> None:
    if value:
        from rl.doctor import short_version

        typer.echo(short_version())
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print versions and exit."),
    ] = False,
) -> None:
    """agentrl: SFT -> asynchronous GRPO -> evaluation for agent policies."""


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print Python, torch, vLLM build, transformers, Ray, device and sandbox facts for bug reports."""
    from rl.doctor import report

    rep = report()
    if as_json:
        out.print_json(json.dumps(rep.as_dict()))
    else:
        table = Table(title="agentrl doctor", show_header=False)
        for key, value in rep.rows:
            table.add_row(key, value)
        out.print(table)
        for problem in rep.problems:
            out.print(f"[yellow]problem:[/] {problem}", highlight=False)
    raise typer.Exit(1 if rep.problems else 0)


def _policy_config(name_or_path: str, init_seed: int = 0):
    from pydantic import ValidationError

    from rl.config.errors import describe_validation_error
    from rl.policy.config import PolicyConfig

    try:
        return PolicyConfig(name_or_path=name_or_path, init_seed=init_seed)
    except ValidationError as exc:
        raise fail("; ".join(describe_validation_error(exc, PolicyConfig))) from None


@app.command("model-info")
def model_info_cmd(
    policy: Annotated[str | None, typer.Argument(help="A preset name or a checkpoint directory.")] = None,
    list_presets: Annotated[bool, typer.Option("--list", help="List the presets.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Layer pattern, total and active parameters per token, experts and latent size of a policy."""
    from rl.policy.presets import PRESETS

    if list_presets or policy is None:
        table = Table("preset", "description")
        for name, preset in sorted(PRESETS.items()):
            table.add_row(name, preset.description)
        out.print(table)
        return
    from rl.policy.build import build_config
    from rl.policy.model_info import model_info

    config, _ = build_config(_policy_config(policy))
    info = model_info(config)
    if as_json:
        out.print_json(json.dumps(info.as_dict()))
        return
    table = Table(title=f"{policy}", show_header=False)
    for key, value in info.as_dict().items():
        if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
            value = f"{value:,} ({value / 1e6:.2f}M)"
        table.add_row(key, str(value))
    out.print(table)


@app.command("init-policy")
def init_policy(
    preset: Annotated[str, typer.Argument(help="A preset name.")],
    output: Annotated[Path, typer.Argument(help="Directory to write the checkpoint to (must not exist).")],
    init_seed: Annotated[int, typer.Option(help="Seed of the random initialisation.")] = 0,
) -> None:
    """Write a randomly initialised preset as a Hugging Face checkpoint directory (loadable by vLLM)."""
    from rl.policy.presets import PRESETS

    if preset not in PRESETS:
        raise fail(f"unknown preset {preset!r}; known presets: {', '.join(sorted(PRESETS))}")
    if output.exists() and any(output.iterdir()):
        raise fail(f"{output} exists and is not empty; refusing to write over it")
    from rl.policy.build import load_policy, save_policy

    model, tok = load_policy(_policy_config(preset, init_seed))
    save_policy(model, tok, output, metadata={"preset": preset, "init_seed": init_seed})
    out.print(f"wrote {preset} (init seed {init_seed}) to {output}", highlight=False)


@config_app.command("show")
def config_show(
    config: Annotated[Path, typer.Argument(help="Experiment config YAML.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value overrides.")] = None,
) -> None:
    """Validate a config (with `defaults:` and overrides applied) and print it fully resolved."""
    from rl.config.loader import dump_config, load_config

    try:
        cfg = load_config(config, overrides or [])
    except ConfigError as exc:
        raise fail(str(exc)) from None
    out.print(dump_config(cfg), end="", highlight=False, markup=False)


@app.command("sft")
def sft_cmd(
    config: Annotated[Path, typer.Argument(help="Experiment config YAML with an `sft` section.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value overrides.")] = None,
) -> None:
    """Supervised fine-tuning on demonstrations (env oracles, chat JSONL); before/after pass@1 on held-out seeds."""
    from rl.config.loader import load_config

    try:
        cfg = load_config(config, overrides or [])
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if not cfg.sft.envs and not cfg.sft.jsonl:
        raise fail(f"{config}: sft.envs and sft.jsonl are both empty; nothing to train on")
    from environments import UnknownEnvError
    from sft.data import DataError, HeldOutLeakError
    from sft.trainer import run_sft

    try:
        result = run_sft(cfg, log=lambda msg: out.print(msg, highlight=False, markup=False))
    except (DataError, HeldOutLeakError, UnknownEnvError) as exc:
        raise fail(str(exc)) from None
    table = Table("env", "pass@1 before", "pass@1 after", "parse errors after", title=f"sft: {result.folder}")
    before = result.eval.get("before", {}).get("envs", {})
    for env_id, m in result.eval.get("after", {}).get("envs", {}).items():
        b = before.get(env_id)
        table.add_row(env_id, f"{b['pass@1']:.2f}" if b else "-", f"{m['pass@1']:.2f}", f"{m['parse_error_rate']:.1%}")
    if result.eval:
        out.print(table)
    out.print(f"checkpoint: {result.checkpoint} ({result.steps} steps, {result.train_s:.0f}s)", highlight=False)


@app.command("train")
def train_cmd(
    config: Annotated[Path, typer.Argument(help="Experiment config YAML.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value overrides.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run folder's latest checkpoint.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Asynchronous GRPO: Ray rollout workers + a learner actor, metrics, checkpoints."""
    from rl.config.loader import load_config

    try:
        cfg = load_config(config, overrides or [])
    except ConfigError as exc:
        raise fail(str(exc)) from None
    import environments
    from rl.sampler import TaskSampler
    from rl.train import RunFolderError, train

    try:
        TaskSampler(cfg.algo.env_mix)  # unknown env ids fail here, before anything starts
    except (environments.UnknownEnvError, ValueError) as exc:
        raise fail(f"{config}: algo.env_mix: {exc}") from None
    try:
        result = train(cfg, resume=resume, progress=not no_progress)
    except RunFolderError as exc:
        raise fail(str(exc)) from None
    last = result.history[-1] if result.history else {}
    out.print(
        f"trained {result.steps} steps (policy version {result.version}); final checkpoint "
        f"{result.final_checkpoint}; last reward {last.get('reward/mean', float('nan')):.3f}",
        highlight=False,
    )


@envs_app.command("list")
def envs_list(
    family: Annotated[str | None, typer.Option(help="Only this family (tools, code, planning, ...).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Registered env configs: id, family, tools, max turns, description."""
    import environments

    rows = []
    for s in environments.list_envs(family):
        env = environments.make(s.id)
        _, info = env.reset(seed=0)
        tools = [t["function"]["name"] for t in info["tools"]]
        rows.append(
            {
                "id": s.id,
                "family": s.family,
                "tools": tools,
                "max_turns": env.max_turns,
                "description": s.description,
                "source": s.source,
            }
        )
    if family is not None and not rows:
        raise fail(f"no env configs in family {family!r}; families: {', '.join(environments.families())}")
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("family", "tools", "max turns", "description")
    table.add_column("id", no_wrap=True)
    table.columns.insert(0, table.columns.pop())
    for r in rows:
        table.add_row(r["id"], r["family"], ", ".join(r["tools"]) or "-", str(r["max_turns"]), r["description"])
    out.print(table)
    out.print(f"{len(rows)} env configs", highlight=False)


def _resolve_env_ids(selectors: list[str]) -> list[str]:
    import environments

    try:
        return environments.resolve_ids(selectors)
    except environments.UnknownEnvError as exc:
        raise fail(str(exc)) from None


@envs_app.command("check")
def envs_check(
    ids: Annotated[list[str] | None, typer.Argument(help="Env ids or family names (default: all).")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds for the oracle and determinism checks.")] = 3,
) -> None:
    """Run the environment contract checker (gymnasium's check_env, determinism, oracle, bad actions)."""
    import environments

    env_ids = _resolve_env_ids(ids) if ids else [s.id for s in environments.list_envs()]
    failed = 0
    for env_id in env_ids:
        rep = environments.check(env_id, seeds=seeds)
        status = "[green]ok[/]" if rep.ok else "[red]FAIL[/]"
        out.print(f"{status} {env_id} ({rep.seconds:.1f}s)")
        for p in rep.problems:
            out.print(f"    [red]-[/] {p}", highlight=False)
        failed += not rep.ok
    out.print(f"{len(env_ids) - failed}/{len(env_ids)} env configs pass", highlight=False)
    raise typer.Exit(1 if failed else 0)


PLAY_HELP = """Type an assistant message and press enter. Lines:
  call NAME {"arg": value}   a tool call (several 'call' lines before a message are sent together)
  /oracle                    send the oracle's next action
  /quit                      stop
Anything else is the message content, sent with the pending tool calls."""


@envs_app.command("play")
def envs_play(
    env_id: Annotated[str, typer.Argument(help="Env id.")],
    seed: Annotated[int, typer.Option(help="Task seed.")] = 0,
) -> None:
    """Play an episode in the terminal: type assistant messages and tool calls, see observations and reward."""
    import environments

    env_id = _resolve_env_ids([env_id])[0]
    env = environments.make(env_id)
    obs, info = env.reset(seed=seed)
    out.print(f"[bold]{env_id}[/] seed {seed}, max turns {env.max_turns}")
    for t in info["tools"]:
        f = t["function"]
        out.print(
            f"  tool [cyan]{f['name']}[/]: {f.get('description', '')} {json.dumps(f['parameters'])}", highlight=False
        )
    out.print(PLAY_HELP, highlight=False, markup=False)
    _show(obs)
    pending: list[dict] = []
    total = 0.0
    while True:
        try:
            line = input("assistant> ")
        except EOFError:
            break
        if line.strip() == "/quit":
            break
        if line.startswith("call "):
            name, _, raw = line[5:].strip().partition(" ")
            try:
                args = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as exc:
                out.print(f"[red]not JSON:[/] {exc}", highlight=False)
                continue
            pending.append({"name": name, "arguments": args})
            continue
        action = env.oracle_action() if line.strip() == "/oracle" else {"content": line, "tool_calls": pending}
        pending = []
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        _show(obs)
        out.print(
            f"  reward {reward:g} (total {total:g}) components {info['reward_components']} errors {info['errors']}",
            highlight=False,
        )
        if terminated or truncated:
            verdict = "success" if info["success"] else "no success"
            out.print(f"episode over ({'terminated' if terminated else 'truncated'}): {verdict}, reward {total:g}")
            break


def _show(messages: list[dict]) -> None:
    for m in messages:
        who = m["role"] + (f" {m['name']}" if m.get("name") else "")
        out.print(f"[bold magenta]{who}>[/] {m['content']}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
