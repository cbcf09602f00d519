"""The command line refuses tampered checkpoints with one line (exit 2) and never runs their code."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tripod.algorithms.ppo.ppo import PPOConfig
from tripod.cli import main
from tripod.io.checkpoint_trust import MANIFEST_FILE, write_manifest

MODULE = "tripod.algorithms.ppo.default_ppo_rl_module:DefaultPPOTorchRLModule"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    algo = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=1)
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        .rl_module(model_config={"fcnet_hiddens": [8]})
        .debugging(seed=0)
        .build_algo()
    )
    path = tmp_path_factory.mktemp("saved") / "ckpt"
    algo.save_to_path(path)
    algo.stop()
    return path


@pytest.fixture
def run(saved, tmp_path) -> Path:
    """A run directory whose only checkpoint is a copy of ``saved``."""
    run = tmp_path / "run"
    shutil.copytree(saved, run / "checkpoints" / "iter_000001")
    return run


def set_config(checkpoint: Path, **fields) -> None:
    meta_file = checkpoint / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["config"].update(fields)
    meta_file.write_text(json.dumps(meta))
    write_manifest(checkpoint)  # an attacker rewrites the manifest too


def popen_attack(checkpoint: Path, marker: Path) -> None:
    set_config(
        checkpoint, env={"__import__": "subprocess.Popen"}, env_config={"args": ["touch", str(marker)]}
    )


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "{ckpt}", "--episodes", "1"],
        ["export", "{ckpt}", "--out", "{out}"],
        ["train", "--resume", "{run}", "--stop-iters", "1"],
    ],
)
def test_popen_env_is_refused_by_every_command(run, tmp_path, capsys, argv):
    marker = tmp_path / "pwned"
    ckpt = run / "checkpoints" / "iter_000001"
    popen_attack(ckpt, marker)
    args = [a.format(ckpt=ckpt, out=tmp_path / "out", run=run) for a in argv]
    assert main(args) == 2
    err = one_line_error(capsys)
    assert "'env' class 'subprocess.Popen' was not loaded" in err and "--trust-checkpoint" in err
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_module_flag_loads_a_module_class_from_a_script(run, tmp_path, capsys):
    ckpt = run / "checkpoints" / "iter_000001"
    spec = json.loads((ckpt / "metadata.json").read_text())["config"]["rl_module_spec"]
    set_config(
        ckpt,
        rl_module_spec={
            **(spec or {}),
            "type": "single",
            "module_class": {"__import__": "__main__.ScriptModule"},
            "observation_space": None,
            "action_space": None,
            "inference_only": False,
            "learner_only": False,
            "model_config": {"fcnet_hiddens": [8]},
            "load_state_path": None,
        },
    )
    assert main(["evaluate", str(ckpt), "--episodes", "1"]) == 2
    assert "no attribute 'ScriptModule'" in one_line_error(capsys)
    assert main(["evaluate", str(ckpt), "--episodes", "1", "--module", MODULE]) == 0
    assert main(["export", str(ckpt), "--out", str(tmp_path / "out"), "--module", MODULE]) == 0
    assert (tmp_path / "out" / MANIFEST_FILE).exists()
    assert main(["evaluate", str(ckpt), "--module", "tripod.io.checkpoint:CheckpointError"]) == 2
    assert "CheckpointError is not an RLModule subclass" in one_line_error(capsys)
    assert main(["evaluate", str(ckpt), "--module", "no_such_pkg_x.mod:Cls"]) == 2
    err = one_line_error(capsys)
    assert "--module no_such_pkg_x.mod:Cls: cannot import class" in err and "as PKG.MOD:CLASS." in err
    assert "module_class=" not in err  # Python-API advice does not help on the command line


def test_trust_checkpoint_flag_opts_in(run, tmp_path, monkeypatch, capsys):
    (tmp_path / "cli_security_creators.py").write_text(
        "import gymnasium as gym\n\n\ndef make_cartpole(config):\n    return gym.make('CartPole-v1')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ckpt = run / "checkpoints" / "iter_000001"
    set_config(ckpt, env={"__function__": {"module": "cli_security_creators", "qualname": "make_cartpole"}})
    assert main(["evaluate", str(ckpt), "--episodes", "1"]) == 2
    err = one_line_error(capsys)
    assert "'env' function 'cli_security_creators:make_cartpole' was not loaded" in err
    assert "module 'cli_security_creators' is not imported" in err
    assert main(["evaluate", str(ckpt), "--episodes", "1", "--trust-checkpoint"]) == 0
    monkeypatch.delitem(sys.modules, "cli_security_creators")


def test_resume_refuses_another_env_naming_both(run, capsys):
    assert main(["train", "--resume", str(run), "--set", "env=CartPole-v0", "--stop-iters", "1"]) == 2
    err = one_line_error(capsys)
    assert "trains on CartPole-v1, not CartPole-v0 (--set env=CartPole-v0)" in err
    assert main(["train", "ppo", "Acrobot-v1", "--resume", str(run), "--stop-iters", "1"]) == 2
    assert "trains on CartPole-v1, not Acrobot-v1 (ENV Acrobot-v1)" in one_line_error(capsys)


def _late_env_module(tmp_path: Path, monkeypatch, name: str) -> str:
    """A module, not imported yet, that registers a CartPole copy with gymnasium; returns ``mod:EnvId``."""
    (tmp_path / f"{name}.py").write_text(
        "import gymnasium as gym\n"
        f"gym.register('{name}-v0', "
        "entry_point='gymnasium.envs.classic_control.cartpole:CartPoleEnv', max_episode_steps=500)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}:{name}-v0"


def test_env_flag_names_a_module_env_the_checkpoint_may_not_import(run, tmp_path, monkeypatch, capsys):
    env = _late_env_module(tmp_path, monkeypatch, "tripod_cli_late_env_eval")
    ckpt = run / "checkpoints" / "iter_000001"
    set_config(ckpt, env=env)
    assert main(["evaluate", str(ckpt), "--episodes", "1"]) == 2
    err = one_line_error(capsys)
    assert f"env '{env}' was not loaded" in err and "--env ENV for an env" in err
    assert "tripod_cli_late_env_eval" not in sys.modules
    assert main(["evaluate", str(ckpt), "--episodes", "1", "--env", env]) == 0
    assert "over 1 greedy episodes" in capsys.readouterr().out


def test_resume_with_env_named_loads_a_module_env(run, tmp_path, monkeypatch, capsys):
    env = _late_env_module(tmp_path, monkeypatch, "tripod_cli_late_env_resume")
    set_config(run / "checkpoints" / "iter_000001", env=env)
    assert main(["train", "--resume", str(run), "--stop-iters", "2", "--eval-episodes", "0"]) == 2
    assert f"env '{env}' was not loaded" in one_line_error(capsys)
    assert main(["train", "ppo", env, "--resume", str(run), "--stop-iters", "2", "--eval-episodes", "0"]) == 0
    assert "Resuming" in capsys.readouterr().out
