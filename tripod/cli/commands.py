"""The ``tripod`` commands: ``train``, ``evaluate`` and ``export`` (``cmd_*``), and ``--set`` parsing.

Each ``cmd_*`` takes the parsed arguments and returns the exit code; bad input raises
:class:`CliError`, which :func:`tripod.cli.main` prints as one line (exit code 2).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import sys
from pathlib import Path
from typing import Any

from tripod.algorithms.registry import (
    UnknownAlgorithmError,
    algorithm_name,
    get_config_class,
    normalize_name,
)

EXIT_USAGE = 2
EXIT_INTERRUPT = 130


class CliError(Exception):
    """A user error: printed as one line without a traceback; exit code 2."""


_USER_ERRORS = (
    ("tripod.algorithms.algorithm_config", "ConfigError"),
    ("tripod.io.checkpoint", "CheckpointError"),
    ("tripod.env.env_creation", "EnvCreationError"),
    ("tripod.env.env_checks", "EnvAPIError"),
    ("tripod.core.rl_module.validation", "ModuleOutputError"),
    ("tripod.cli.train_options", "OptionError"),
    ("gymnasium.error", "Error"),
)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input rather than a bug.

    Only modules already imported are consulted: an error type from a module that
    was never imported cannot have been raised, and importing it would cost seconds.
    """
    found = [getattr(sys.modules[mod], name) for mod, name in _USER_ERRORS if mod in sys.modules]
    return (CliError, UnknownAlgorithmError, *found)


# ------------------------------------------------------------------ --set parsing
def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON, else a Python literal (``True``, ``None``, ``(1, 2)``), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(items: list[str] | None, base: dict[str, Any]) -> dict[str, Any]:
    """``["lr=0.001", "model_config.fcnet_hiddens=[32]"]`` -> field values.

    A dotted key updates one entry of a dict field, starting from ``base[field]``.
    """
    values: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--set expects key=value, got {item!r}.")
        field, *path = key.strip().split(".")
        value = parse_value(text)
        if path:
            if field not in base and field not in values:
                raise CliError(f"--set {key}: there is no setting '{field}'.{_did_you_mean(field, base)}")
            tree = values.get(field, copy.deepcopy(base.get(field)))
            if not isinstance(tree, dict):
                raise CliError(f"--set {key}: '{field}' is not a dict setting, so it has no '{path[0]}'.")
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
            value = tree
        values[field] = value
    return values


def _did_you_mean(name: str, base: dict[str, Any]) -> str:
    from tripod.algorithms.config_checks import suggest

    close = suggest(name, [k for k in base if k != "config_class"])
    return f" Did you mean '{close}'?" if close else ""


def _check_env(env_id: str) -> None:
    from tripod.env.env_creation import EnvCreationError, make_env_creator

    try:
        make_env_creator(env_id)
    except EnvCreationError as err:
        raise CliError(str(err)) from err


# ------------------------------------------------------------------ train
def _new_run(args: argparse.Namespace) -> tuple[Any, Path, str]:
    if not args.algo or not args.env:
        raise CliError("train needs ALGO and ENV (e.g. 'tripod train ppo CartPole-v1'), or --resume RUN_DIR.")
    algo_name = normalize_name(args.algo)  # before any heavy import: a typo fails fast

    from tripod.algorithms.presets import get_preset
    from tripod.run.run_dir import default_run_dir

    out = Path(args.out) if args.out else default_run_dir(algo_name, args.env)
    if (out / "metrics.jsonl").exists() or (out / "checkpoints").exists():
        raise CliError(
            f"{out} already holds a run: continue it with --resume {out}, or choose another --out."
        )
    config_cls = get_config_class(algo_name)
    _check_env(args.env)
    config = config_cls().environment(args.env)
    preset = None if args.no_preset else get_preset(algo_name, args.env)
    if preset:
        config.update_from_dict(preset)
        shown = ", ".join(f"{k}={v}" for k, v in preset.items())
        print(f"Using the tuned preset for {algo_name} on {args.env}: {shown}")
    elif not args.no_preset:
        print(f"No tuned preset for {algo_name} on {args.env}; using {config_cls.__name__} defaults.")
    config.update_from_dict(_cli_overrides(args, config.to_dict()))
    if args.policies:
        from tripod.cli.train_options import policies_values

        config.update_from_dict(policies_values(args.policies, config, args.env))
    algo = config.build_algo()
    return algo, out, algo_name


def _cli_overrides(args: argparse.Namespace, base: dict[str, Any], *, resumed: bool = False) -> dict[str, Any]:
    """Config values from ``--config FILE``, then the flags, then ``--set`` (each overrides the one before)."""
    from tripod.cli.train_options import expand_schedules

    values: dict[str, Any] = _config_file_values(args.config, base) if args.config else {}
    flags = {
        "num_envs": "num_envs_per_env_runner", "num_env_runners": "num_env_runners",
        "num_learners": "num_learners", "eval_every": "evaluation_interval",
    }  # fmt: skip
    for flag, setting in flags.items():
        if getattr(args, flag, None) is not None:
            values[setting] = getattr(args, flag)
    if args.seed is not None:
        values["seed"] = args.seed
    if args.module and not resumed:  # a resumed run loads its module class (--module names it there)
        from tripod.core.rl_module.rl_module import RLModuleSpec

        values["rl_module_spec"] = RLModuleSpec(module_class=_module_class(args.module))
    if args.model_config is not None:
        values["model_config"] = _model_config_arg(args.model_config)
    values.update(parse_overrides(args.set, {**base, **values}))
    return expand_schedules(values, base, _step_budget(args, base.get("env")))


def _config_file_values(path: str, base: dict[str, Any]) -> dict[str, Any]:
    """``--config FILE``'s settings, checked by name as ``--set`` checks them (values when the config is built)."""
    from tripod.cli.train_options import config_file_items, read_config_file

    values = read_config_file(path)
    for key in values:
        if str(key) not in base or key == "config_class":
            owner = str(base.get("config_class", "the config")).rpartition(".")[2]
            raise CliError(f"--config {path}: {owner} has no setting '{key}'.{_did_you_mean(str(key), base)}")
    return parse_overrides(config_file_items(values, base, path), base)


def _model_config_arg(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise CliError(f"--model-config: not valid JSON ({err}); e.g. --model-config '{{\"hidden_dim\": 64}}'.") from err
    if not isinstance(value, dict):
        raise CliError(f"--model-config: expected a JSON object of model settings, got {text!r}.")
    return value


def _step_budget(args: argparse.Namespace, env: Any) -> int | None:
    """The run's env-step budget (for ``{"linear": [start, end]}`` schedules), if it has one."""
    if args.stop_steps is not None:
        return args.stop_steps
    if any(v is not None for v in (args.stop_return, args.stop_eval_return, args.stop_iters, args.stop_time)):
        return None
    from tripod.algorithms.presets import default_stop

    return int(default_stop(env)["stop_steps"])


def _resumed_run(args: argparse.Namespace) -> tuple[Any, Path, str]:
    from tripod.algorithms.algorithm import Algorithm
    from tripod.io.checkpoint import read_metadata
    from tripod.run.run_dir import CheckpointManager

    if args.out:
        raise CliError("--out cannot be combined with --resume: a resumed run continues in RUN_DIR.")
    run_path = Path(args.resume)
    checkpoint = CheckpointManager(run_path / "checkpoints").latest()
    if checkpoint is None:
        raise CliError(f"cannot resume: no checkpoint in {run_path / 'checkpoints'}.")
    saved = read_metadata(checkpoint).get("config")
    if not isinstance(saved, dict):
        raise CliError(f"{checkpoint}/metadata.json is damaged: it holds no 'config' object.")
    if args.policies:
        raise CliError("--policies applies to a new run: a resumed run keeps its modules.")
    overrides = _cli_overrides(args, saved, resumed=True)
    _check_same_env(run_path, saved.get("env"), args.env, overrides)
    if args.env:  # the same env, named by the user: load it even where it is a module reference
        overrides.setdefault("env", args.env)
    module_class = _module_class(args.module) if args.module else None
    algo = Algorithm.from_checkpoint(
        checkpoint, config_overrides=overrides, trusted=args.trust_checkpoint, module_class=module_class
    )
    algo_name = algorithm_name(type(algo.config))
    if args.algo and get_config_class(args.algo) is not type(algo.config):
        algo.stop()
        raise CliError(f"{run_path} is a {algo_name} run, not {args.algo}.")
    print(f"Resuming {run_path} from {checkpoint.name} (iteration {algo.iteration}).")
    return algo, run_path, algo_name


def _check_same_env(run_path: Path, saved_env: Any, env_arg: str | None, overrides: dict[str, Any]) -> None:
    """A resumed run keeps its env: refuse ENV or ``--set env=...`` naming another one, naming both."""
    saved = saved_env if isinstance(saved_env, str) else json.dumps(saved_env)
    for given, how in (
        (env_arg, f"ENV {env_arg}"),
        (overrides.get("env"), f"--set env={overrides.get('env')}"),
    ):
        if given is not None and given != saved_env:
            raise CliError(
                f"{run_path} trains on {saved}, not {given} ({how}): a resumed run keeps its env. Start a new "
                f"run for {given} (tripod train ALGO {given}), or resume without changing the env."
            )


def _open_run(algo: Any, run_path: Path, args: argparse.Namespace) -> Any:
    """The locked run directory, or a one-line error (the algorithm is stopped then)."""
    from tripod.run.run_dir import RunDir, RunDirError

    try:
        run = RunDir(run_path, keep_checkpoints=args.keep_checkpoints)
        run.lock()
        run.checkpoints.recover()
    except (RunDirError, OSError) as err:
        algo.stop()
        raise CliError(str(err)) from err
    return run


def _start_run(args: argparse.Namespace) -> tuple[Any, Path, str]:
    """The algorithm (new or resumed), its run directory and name; bad input is a :class:`CliError`."""
    from tripod.run.run_dir import RunDirError, check_run_dir

    target = args.resume or args.out
    try:
        if target:  # fail at once, before building anything: in use by another run, or not a run
            check_run_dir(target, existing_run_ok=bool(args.resume))
        return (_resumed_run if args.resume else _new_run)(args)
    except (*_user_errors(), RunDirError) as err:
        raise CliError(str(err)) from err


def _fill_default_stop(args: argparse.Namespace, env: Any) -> None:
    """Without any ``--stop-*`` flag: the env's default stop (solved by greedy evaluation, or a step budget)."""
    flags = (args.stop_return, args.stop_eval_return, args.stop_steps, args.stop_iters, args.stop_time)
    if any(v is not None for v in flags):
        return
    from tripod.algorithms.presets import default_stop

    defaults = default_stop(env)
    args.stop_eval_return = defaults.get("stop_return")
    args.stop_steps = int(defaults["stop_steps"])
    solved = (
        f"a greedy evaluation return of {args.stop_eval_return:g} (evaluated once the training return "
        "reaches it) or "
        if args.stop_eval_return is not None
        else ""
    )
    print(f"No stop criterion given: stopping at {solved}{args.stop_steps:,} env steps (set --stop-*).")


def _open_external_loggers(names: list[str], run: Any, algo: Any) -> list[Any]:
    """The ``--logger`` loggers, started; one that cannot start is a one-line error (run released)."""
    from tripod.run.external_loggers import LoggerSetupError, open_external_loggers

    try:
        return open_external_loggers(names, run_name=run.path.name, run_dir=run.path)
    except LoggerSetupError as err:
        run.unlock()
        algo.stop()
        raise CliError(f"--logger: {err}") from err


def _progress_display(args: argparse.Namespace, algo: Any) -> Any:
    """The live progress line (or every ``--print-every`` iterations without a terminal)."""
    from tripod.run.progress import ProgressDisplay, is_interactive

    return ProgressDisplay(
        live=not args.quiet and is_interactive(),
        print_every=args.print_every or (10 if args.quiet else 1),
        stop_steps=args.stop_steps,
        stop_iters=args.stop_iters,
        stop_time=args.stop_time,
        stop_return=args.stop_return if args.stop_return is not None else args.stop_eval_return,
        start_steps=algo.num_env_steps_sampled_lifetime,
        start_iter=algo.iteration,
        start_time_s=algo.time_total_s,
    )


def cmd_train(args: argparse.Namespace) -> int:
    """``tripod train``: see ``tripod train --help``."""
    from tripod.cli.train_options import OptionError, logger_names

    try:
        loggers = logger_names(args.logger)  # before anything is built: a typo fails at once
    except OptionError as err:
        raise CliError(str(err)) from err
    algo, run_path, algo_name = _start_run(args)

    from tripod.io.checkpoint import CheckpointSaveError
    from tripod.run.train_run import StopCriteria, format_summary, train_run

    run = _open_run(algo, run_path, args)
    loggers = _open_external_loggers(loggers, run, algo)
    if args.resume:
        run.truncate_metrics(algo.iteration)  # rows logged after the checkpoint are trained again
    env_id = algo.config.env if isinstance(algo.config.env, str) else repr(algo.config.env)
    _fill_default_stop(args, algo.config.env)
    stop = StopCriteria(args.stop_return, args.stop_steps, args.stop_iters, args.stop_time, args.stop_eval_return)
    print(f"Training {algo_name} on {env_id} (seed {algo.config.seed}) -> {run.path}")
    try:
        summary = train_run(
            algo,
            run,
            stop,
            checkpoint_every=args.checkpoint_every,
            eval_episodes=args.eval_episodes,
            display=_progress_display(args, algo),
            summary={"algo": algo_name, "env": env_id, "resumed": bool(args.resume)},
            plot_title=f"{algo_name} on {env_id}",
            loggers=loggers,
        )
    except (CheckpointSaveError, *_user_errors()) as err:  # e.g. an env that breaks its API mid-run
        last = run.checkpoints.latest()
        kept = f"the last checkpoint is {last}" if last else "no checkpoint was written"
        raise CliError(
            f"{str(err).rstrip('.')}. Training stopped at iteration {algo.iteration}; {kept}."
        ) from err
    finally:
        run.unlock()
        algo.stop()
    print(format_summary(summary))
    return EXIT_INTERRUPT if summary["stopped_by"] == "interrupt" else 0


# ------------------------------------------------------------------ evaluate / export
#: Config overrides that keep a loaded algorithm in this process (a run may have used Ray).
IN_PROCESS = {"num_env_runners": 0, "evaluation_num_env_runners": 0, "num_learners": 0, "async_sampling": False,
              "evaluation_parallel_to_training": False}  # fmt: skip
def _load_algo(
    path: str, overrides: dict[str, Any] | None = None, args: argparse.Namespace | None = None
) -> Any:
    """The algorithm in checkpoint (or run directory) ``path``, with ``--module``/``--trust-checkpoint``."""
    from tripod.algorithms.algorithm import Algorithm
    from tripod.run.checkpoint_choice import resolve_checkpoint_arg

    module_class = _module_class(args.module) if args is not None and args.module else None
    trusted = bool(args is not None and args.trust_checkpoint)
    # evaluate/export run greedy episodes or read weights: no Ray actors, whatever the run used
    overrides = {**IN_PROCESS, **(overrides or {})}
    if args is not None and args.env:  # the user named it: a reference they chose, not the checkpoint's
        _check_env(args.env)
        overrides["env"] = args.env
    return Algorithm.from_checkpoint(
        resolve_checkpoint_arg(path), config_overrides=overrides, module_class=module_class, trusted=trusted
    )


def _module_class(ref: str) -> type:
    """The RLModule class ``--module pkg.mod:Class`` names (imported: the user named it)."""
    from tripod.core.rl_module.rl_module import RLModule
    from tripod.io.checkpoint import ClassImportError, import_class

    try:
        cls = import_class(ref)
    except ClassImportError as err:
        detail = str(err).split(" Move the class into")[0]  # drop the Python-API advice
        raise CliError(
            f"--module {ref}: {detail} Name a class in an importable module (on sys.path, e.g. the "
            "current directory or an installed package) as PKG.MOD:CLASS."
        ) from err
    if not issubclass(cls, RLModule):
        raise CliError(f"--module {ref}: {cls.__name__} is not an RLModule subclass.")
    return cls


def _say_if_best(path: str) -> None:
    """Say so when a run's ``checkpoints/best`` (the best greedy evaluation) is what ``path`` means."""
    from tripod.run.checkpoint_choice import resolve_checkpoint_arg
    from tripod.run.run_dir import BEST_NAME, CheckpointManager

    try:
        chosen = resolve_checkpoint_arg(path)
    except _user_errors():
        return  # loading reports it
    if chosen.name == BEST_NAME:
        record = CheckpointManager(chosen.parent).best_record()
        detail = (
            f" (greedy return {record['eval_return_mean']:.2f} at iteration {record['iteration']})" if record else ""
        )
        print(f"Using the run's best checkpoint {chosen}{detail}.")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``tripod evaluate``: greedy episodes from a checkpoint (optionally rendered or recorded)."""
    import numpy as np

    render = args.render or ("rgb_array" if args.video else None)
    if args.video and render != "rgb_array":
        raise CliError("--video needs --render rgb_array.")
    if args.video:
        try:
            import moviepy  # noqa: F401  (gymnasium's RecordVideo writes with moviepy)
        except ImportError as err:
            raise CliError("--video needs moviepy to write videos: pip install 'tripod-rl[video]'") from err
    _say_if_best(args.checkpoint)
    try:
        algo = _load_algo(args.checkpoint, None if args.seed is None else {"seed": args.seed}, args)
        if render is None:
            ev = algo.evaluate(args.episodes)["env_runners"]
            returns_mean, returns_std, n = (
                ev["episode_return_mean"],
                ev.get("episode_return_std"),
                ev["num_episodes"],
            )
        else:
            from tripod.run.rollout import greedy_episodes, make_render_env

            env = make_render_env(algo.config, render, video_dir=args.video)
            try:
                returns = greedy_episodes(
                    algo.get_module(), env, args.episodes, seed=args.seed, connectors=algo.connector_pipeline()
                )
            finally:
                env.close()
            returns_mean, returns_std, n = float(np.mean(returns)), float(np.std(returns)), len(returns)
    except _user_errors() as err:
        raise CliError(str(err)) from err
    algo.stop()
    print(f"Return {returns_mean:.2f} ± {returns_std:.2f} over {n} greedy episodes.")
    if args.video:
        print(f"Videos written to {args.video}")
    return 0


def _export_error(err: Exception) -> CliError:
    return CliError(str(err).replace("pass overwrite=True (CLI: --overwrite)", "pass --overwrite"))


def _check_export_target(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that would replace the source or files tripod did not write."""
    from tripod.export import ExportError, check_export_target
    from tripod.export.writers import require_onnx
    from tripod.io.checkpoint import OverwriteError, check_replaceable

    source, out = Path(args.checkpoint).resolve(), Path(args.out).resolve()
    if out == source or source in out.parents or out in source.parents:
        raise CliError(
            f"--out {args.out} is {args.checkpoint} itself, inside it or contains it; export to a directory "
            "outside the checkpoint and its run directory."
        )
    try:
        if args.format == "safetensors":
            check_replaceable(out, kinds=("rl_module", "multi_rl_module"), overwrite=args.overwrite)
        else:
            check_export_target(out, overwrite=args.overwrite)
        if args.format == "onnx":
            require_onnx()
    except (OverwriteError, ExportError, ImportError) as err:
        raise _export_error(err) from err


def cmd_export(args: argparse.Namespace) -> int:
    """``tripod export``: write trained modules alone, as a tripod module checkpoint or ONNX / ``.pt2``."""
    from tripod.export import ExportError, export_algorithm
    from tripod.io.checkpoint import CheckpointSaveError, OverwriteError

    _check_export_target(args)
    try:
        algo = _load_algo(args.checkpoint, None, args)
    except _user_errors() as err:
        raise CliError(str(err)) from err
    try:
        result = export_algorithm(
            algo, args.out, format=args.format, module_id=args.module_id, all_modules=args.all,
            overwrite=args.overwrite,
        )  # fmt: skip
    except (OverwriteError, CheckpointSaveError, ExportError) as err:
        raise _export_error(err) from err
    finally:
        algo.stop()
    path = result["path"]
    if args.format == "safetensors":
        print(f"Exported {result['class']} to {path}. Load it with RLModule.from_checkpoint({str(path)!r}).")
        return 0
    for module_id, file in result["modules"].items():
        print(f"Exported {module_id} to {file} (inputs, outputs and spaces in {file.with_suffix('.json')}).")
    if result["skipped"]:
        print(f"Skipped {', '.join(result['skipped'])}: not torch modules, nothing to export.")
    return 0
