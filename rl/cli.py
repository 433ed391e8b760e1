"""The `agentrl` command line. Subcommands are added as features land; each one does real work.

Bad input (a config typo, an unknown preset, a missing directory) prints one message naming the problem and
exits with code 2 before anything heavy starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

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


class _DefaultRunGroup(TyperGroup):
    """`agentrl eval CHECKPOINT...` runs `eval run CHECKPOINT...`; `agentrl eval show ...` is a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=_DefaultRunGroup,
    help="Evaluate checkpoints on held-out seeds (`agentrl eval CKPT... --envs tools`), or show a transcript.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")

out = Console()
err = Console(stderr=True)


def _load(config: Path, overrides: list[str] | None):
    """Load and validate a config, or exit 2 with the problem."""
    from rl.config.loader import load_config

    try:
        return load_config(config, overrides or [])
    except ConfigError as exc:
        raise fail(str(exc)) from None


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


@config_app.command("reference")
def config_reference_cmd() -> None:
    """Print the config reference (every section and key with type, default, bounds and description)."""
    from rl.config.reference import config_reference

    typer.echo(config_reference(), nl=False)


@config_app.command("show")
def config_show(
    config: Annotated[Path, typer.Argument(help="Experiment config YAML.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value overrides.")] = None,
) -> None:
    """Validate a config (with `defaults:` and overrides applied) and print it fully resolved."""
    from rl.config.loader import dump_config

    cfg = _load(config, overrides)
    out.print(dump_config(cfg), end="", highlight=False, markup=False)


@app.command("sft")
def sft_cmd(
    config: Annotated[Path, typer.Argument(help="Experiment config YAML with an `sft` section.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value overrides.")] = None,
) -> None:
    """Supervised fine-tuning on demonstrations (env oracles, chat JSONL); before/after pass@1 on held-out seeds."""
    cfg = _load(config, overrides)
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


def _training_config(config: Path, overrides: list[str] | None, check_eval: bool = False):
    """Load a config and check everything a training run needs before anything starts: the config itself, extra
    env modules, the env ids of algo.env_mix (and eval.envs), the names in algo.reward_components, and that the
    rollout engine can serve the policy.
    Any problem exits with code 2 and one message."""
    cfg = _load(config, overrides)
    import environments
    from rl.grpo.advantages import RewardComponentError, check_reward_components
    from rl.sampler import TaskSampler
    from rl.train import check_engine_fit
    from rollout.engines.select import EngineChoiceError

    try:
        environments.load_env_modules(cfg.rollout.env_modules)
        env_ids = TaskSampler(cfg.algo.env_mix).active_env_ids()
    except (environments.UnknownEnvError, ValueError, FileNotFoundError, ImportError) as exc:
        raise fail(f"{config}: algo.env_mix: {exc}") from None
    try:
        check_reward_components(cfg.algo.reward_components, env_ids)
    except RewardComponentError as exc:
        raise fail(f"{config}: {exc}") from None
    try:
        if check_eval:
            cfg.eval.env_ids()
    except environments.UnknownEnvError as exc:
        raise fail(f"{config}: eval.envs: {exc}") from None
    try:
        check_engine_fit(cfg)
    except EngineChoiceError as exc:
        raise fail(f"{config}: {exc}") from None
    return cfg


@app.command("train")
def train_cmd(
    config: Annotated[Path, typer.Argument(help="Experiment config YAML.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value overrides.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run folder's latest checkpoint.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Asynchronous GRPO: Ray rollout workers + a learner actor, metrics, checkpoints."""
    cfg = _training_config(config, overrides)
    from rl.train import RunFolderError, train

    try:
        result = train(cfg, resume=resume, progress=not no_progress)
    except RunFolderError as exc:
        raise fail(str(exc)) from None
    last = result.history[-1] if result.history else {}
    out.print(
        f"trained {result.steps} steps (policy version {result.version}); final checkpoint "
        f"{result.final_checkpoint}; last reward {last.get('reward/mean', float('nan')):.3f}\n"
        f"training curves: {result.curves}",
        highlight=False,
    )


@app.command("quickstart")
def quickstart_cmd(
    config: Annotated[Path, typer.Argument(help="Pipeline config YAML.")] = Path("configs/quickstart.yaml"),
    overrides: Annotated[list[str] | None, typer.Argument(help="dotted.key=value overrides.")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
) -> None:
    """The whole job: SFT -> asynchronous GRPO -> evaluation of random init / SFT / RL, with a report."""
    cfg = _training_config(config, overrides, check_eval=True)
    if cfg.run.folder.exists() and any(cfg.run.folder.iterdir()):
        raise fail(f"{cfg.run.folder} is not empty; set run.name (or run.output_dir) to start a new run")
    from rl.pipeline import print_summary, run_pipeline

    print_summary(run_pipeline(cfg, progress=not no_progress, log=lambda m: out.print(m, highlight=False)))


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


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _parse_seeds(text: str) -> list[int]:
    """`1000000-1000007` (inclusive), `5,7,9`, or a mix."""
    seeds: list[int] = []
    for part in _split([text]):
        lo, sep, hi = part.partition("-")
        try:
            if sep and lo:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds += range(a, b + 1)
            else:
                seeds.append(int(part))
        except ValueError:
            raise fail(f"--seeds: cannot read {part!r}; expected seeds like 1000000-1000007 or 5,7,9") from None
    if not seeds:
        raise fail("--seeds: no seeds given")
    return list(dict.fromkeys(seeds))


@eval_app.command("run")
def eval_run(
    checkpoints: Annotated[
        list[str], typer.Argument(help="Checkpoint directories or preset names (random init); NAME=PATH names one.")
    ],
    envs: Annotated[
        list[str] | None, typer.Option("--envs", "-e", help="Env ids or families, comma-separated or repeated.")
    ] = None,
    n: Annotated[int | None, typer.Option("--n", help="Samples per task seed.")] = None,
    k: Annotated[int | None, typer.Option("--k", help="k of pass@k (<= n).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default runs/eval-TIME).")] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Task seeds, e.g. 1000000-1000007 or 5,7,9 (default: held out).")
    ] = None,
    num_seeds: Annotated[int | None, typer.Option("--num-seeds", min=1, help="Held-out seeds per env.")] = None,
    seed_offset: Annotated[int | None, typer.Option("--seed-offset", min=0, help="First held-out seed.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Most tokens per assistant turn.")] = None,
    max_total_tokens: Annotated[int | None, typer.Option(help="Most tokens per episode.")] = None,
    engine: Annotated[str | None, typer.Option(help="auto, vllm or transformers.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Rollout workers per checkpoint.")] = None,
    init_seed: Annotated[int, typer.Option(help="Random-init seed of preset checkpoints.")] = 0,
    deterministic: Annotated[
        bool, typer.Option("--deterministic", help="One episode at a time per worker (exactly repeatable).")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Experiment YAML: its eval, rollout and ray sections.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into an output folder that has results.")] = False,
) -> None:
    """Evaluate checkpoints side by side on held-out seeds (the default: `agentrl eval CKPT...`).

    Metrics per env config and family: pass@1, pass@k, success rate with 95% CI, reward and its components,
    turns, parse-error rate, tokens. Writes results.json, report.md, plots/ and transcripts/ to --out."""
    import datetime as dt

    from pydantic import ValidationError

    from rl.config.errors import describe_validation_error
    from rl.config.loader import load_config
    from rl.config.run import RunConfig
    from rl.eval.checkpoints import CheckpointError, parse_checkpoints
    from rl.eval.config import EvalConfig

    try:
        ckpts = parse_checkpoints(checkpoints)
    except CheckpointError as exc:
        raise fail(str(exc)) from None
    try:
        cfg = load_config(config) if config is not None else RunConfig()
    except ConfigError as exc:
        raise fail(str(exc)) from None
    updates = {
        "envs": _split(envs) or None,
        "n": n,
        "k": k,
        "num_seeds": num_seeds,
        "seed_offset": seed_offset,
        "temperature": temperature,
        "max_new_tokens": max_new_tokens,
        "max_total_tokens": max_total_tokens,
        "deterministic": deterministic or None,
    }
    data = {**cfg.eval.model_dump(), **{key: v for key, v in updates.items() if v is not None}}
    if n is not None and k is None:
        data["k"] = min(data["k"], n)
    try:
        ecfg = EvalConfig.model_validate(data)
    except ValidationError as exc:
        raise fail("; ".join(m.removeprefix("eval.") for m in describe_validation_error(exc, EvalConfig))) from None
    rollout = cfg.rollout
    try:
        if engine is not None:
            rollout = rollout.model_copy(update={"engine": engine})
            rollout = type(rollout).model_validate(rollout.model_dump())
        if workers is not None:
            rollout = rollout.model_copy(update={"workers": workers})
        rollout = ecfg.standalone_rollout(rollout)
        if ecfg.deterministic:
            rollout = rollout.model_copy(update={"max_concurrent_episodes": 1})
        sampling = rollout.sampling.model_copy(update=ecfg.sampling_overrides())
        type(sampling).model_validate(sampling.model_dump())
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'rollout'}: {e['msg']}" for e in exc.errors()]
        raise fail("; ".join(problems)) from None
    env_ids = _resolve_env_ids(ecfg.envs)
    seed_list = _parse_seeds(seeds) if seeds is not None else ecfg.seeds()
    folder = out_dir or Path("runs") / f"eval-{dt.datetime.now():%Y%m%d-%H%M%S}"
    if folder.exists() and not folder.is_dir():
        raise fail(f"--out {folder} is a file")
    if (folder / "results.json").exists() and not force:
        raise fail(f"{folder} already holds eval results; pass --force to write over them or choose another --out")

    from rollout.engines.select import EngineChoiceError, choose_engine

    def check_engine(path: Path) -> None:
        if cfg.ray.address is None:  # workers run on this machine: the engine choice can be checked here
            try:
                choose_engine(path, rollout.engine)
            except EngineChoiceError as exc:
                raise fail(str(exc)) from None

    for c in ckpts:
        if c.path is not None:
            check_engine(c.path)

    import ray
    from rich.progress import Progress

    from rl.budget import warn_token_budget
    from rl.cluster import init_ray
    from rl.eval.checkpoints import materialize
    from rl.eval.report import write_report
    from rl.eval.runner import evaluate

    folder.mkdir(parents=True, exist_ok=True)
    started = not ray.is_initialized()
    init_ray(cfg.ray)
    results = []
    try:
        for c in ckpts:
            path = materialize(c, folder / "checkpoints", init_seed)
            check_engine(path)
            if c is ckpts[0]:  # one tokenizer family per comparison; the budget is the same for all
                warn_token_budget(env_ids, path, sampling, ecfg.budget_keys())
            out.print(f"[bold]{c.name}[/]: {path} on {len(env_ids)} env configs x {len(seed_list)} seeds x {ecfg.n}")
            with Progress(console=out, transient=True) as bar:
                job = bar.add_task(f"{c.name}: task seeds", total=len(env_ids) * len(seed_list))
                result = evaluate(
                    path,
                    env_ids,
                    seed_list,
                    ecfg.n,
                    ecfg.k,
                    rollout,
                    sampling=ecfg.sampling_overrides(),
                    sample_seed=ecfg.sample_seed,
                    name=c.name,
                    dtype=cfg.policy.dtype,
                    progress=lambda done, _total, job=job, bar=bar: bar.update(job, completed=done),
                )
            results.append(result)
            m = result.overall
            out.print(
                f"  pass@1 {m['pass@1']:.3f}  pass@{result.k} {m['pass@k'] or 0:.3f}  reward {m['mean_reward']:.3f}"
                f"  ({result.seconds:.0f}s, engine {', '.join(sorted({e['engine'] for e in result.engines}))})",
                highlight=False,
            )
    finally:
        if started:
            ray.shutdown()
    files = write_report(results, folder, extra={"eval_config": ecfg.model_dump(), "seeds": seed_list})
    _eval_table(results)
    out.print(f"results: {files.results}\nreport: {files.markdown}\nplots: {len(files.plots)} in {folder / 'plots'}")
    out.print(f"transcripts: {folder / 'transcripts'} (agentrl eval show {folder} --env ID --seed S)")


def _eval_table(results: list) -> None:
    table = Table("env", title="pass@1 / pass@k")
    for r in results:
        table.add_column(f"{r.name} pass@1", justify="right")
        if r.k > 1:
            table.add_column(f"{r.name} pass@{r.k}", justify="right")
    rows = list(dict.fromkeys(e for r in results for e in r.env_ids))
    fams = sorted({f for r in results for f in r.families})
    for label, get in [(e, lambda r, e=e: r.envs.get(e)) for e in rows] + [
        (f"{f} (all)", lambda r, f=f: r.families.get(f)) for f in fams
    ]:
        cells = []
        for r in results:
            m = get(r)
            vals = ["-", "-"] if m is None else [f"{m['pass@1']:.3f}", f"{m['pass@k'] or 0:.3f}"]
            cells += vals if r.k > 1 else vals[:1]
        table.add_row(label, *cells)
    out.print(table)


@eval_app.command("show")
def eval_show(
    run: Annotated[Path, typer.Argument(help="An `agentrl eval` output folder.")],
    env: Annotated[str, typer.Option("--env", help="Env id.")],
    seed: Annotated[int, typer.Option("--seed", help="Task seed.")],
    checkpoint: Annotated[str | None, typer.Option("--checkpoint", help="Checkpoint name (default: first).")] = None,
    sample: Annotated[int, typer.Option("--sample", min=0, help="Sample index among the n of the seed.")] = 0,
) -> None:
    """Print one eval transcript: messages by role, tool calls, tool results, reward."""
    from rl.eval.transcripts import TranscriptNotFound, load_transcript, render_transcript

    try:
        name, row = load_transcript(run, env, seed, checkpoint, sample)
    except TranscriptNotFound as exc:
        raise fail(str(exc)) from None
    render_transcript(out, name, row)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
