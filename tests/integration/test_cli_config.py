"""``tripod train`` for real projects: ``--config FILE`` (YAML, TOML, JSON; precedence; no code
evaluated), ``--module``/``--model-config``, ``--policies``; and what ``tripod evaluate`` accepts
(``RUN/checkpoints``, ``RUN/best``) and ``--video`` with the ``[video]`` extra."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from tripod.cli import main

TINY = ["--set", "train_batch_size_per_learner=200", "--set", "minibatch_size=100", "--set", "num_epochs=1",
        "--num-envs", "2", "--eval-episodes", "0", "--quiet"]  # fmt: skip


def train(tmp_path: Path, *args: str, name: str = "run") -> tuple[int, Path]:
    out = tmp_path / name
    return main(["train", *map(str, args), "--out", str(out)]), out


def saved_config(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# ------------------------------------------------------------------ --config FILE
@pytest.mark.parametrize(
    "name, text",
    [
        ("cfg.yaml", "lr: 0.0005\nnum_epochs: 3\nmodel_config:\n  fcnet_hiddens: [16]\ngamma: 0.9\n"),
        ("cfg.toml", "lr = 0.0005\nnum_epochs = 3\ngamma = 0.9\n[model_config]\nfcnet_hiddens = [16]\n"),
        ("cfg.json", '{"lr": 0.0005, "num_epochs": 3, "model_config": {"fcnet_hiddens": [16]}, "gamma": 0.9}'),
    ],
)
def test_config_file_sits_between_the_preset_and_the_flags(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    code, run = train(
        tmp_path, "ppo", "CartPole-v1", "--stop-iters", 1, "--config", tmp_path / name,
        "--set", "gamma=0.95", "--seed", 3, *TINY,
    )  # fmt: skip
    assert code == 0
    config = saved_config(run)
    assert config["lr"] == 0.0005  # the file beats the preset (lr=0.002)
    assert config["model_config"] == {"fcnet_hiddens": [16]}  # the file's key replaces the preset's [64, 64]
    assert config["gamma"] == 0.95  # --set beats the file
    assert config["num_epochs"] == 1  # a later --set beats the file's 3
    assert config["seed"] == 3 and config["lambda_"] == 0.8  # the preset stays where nothing overrides it


def test_config_file_linear_schedule_runs_over_the_step_budget(tmp_path):
    (tmp_path / "cfg.json").write_text('{"lr": {"linear": [0.001, 0.0]}}')
    code, run = train(tmp_path, "ppo", "CartPole-v1", "--stop-steps", 400, "--config", tmp_path / "cfg.json", *TINY)
    assert code == 0
    assert saved_config(run)["lr"] == [[0, 0.001], [400, 0.0]]


def test_config_file_list_schedule_is_taken_as_written(tmp_path):
    (tmp_path / "cfg.toml").write_text("lr = [[0, 0.001], [1000, 0.0001]]\n")
    code, run = train(tmp_path, "ppo", "CartPole-v1", "--stop-iters", 1, "--config", tmp_path / "cfg.toml", *TINY)
    assert code == 0
    assert saved_config(run)["lr"] == [[0, 0.001], [1000, 0.0001]]


def test_config_file_unknown_setting_gets_the_did_you_mean_error(tmp_path, capsys):
    (tmp_path / "cfg.yaml").write_text("lrr: 0.001\n")
    code, run = train(tmp_path, "ppo", "CartPole-v1", "--config", tmp_path / "cfg.yaml")
    assert code == 2
    assert one_line_error(capsys) == (
        f"tripod: error: --config {tmp_path / 'cfg.yaml'}: PPOConfig has no setting 'lrr'. Did you mean 'lr'?"
    )
    assert not run.exists()


def test_config_file_never_evaluates_code(tmp_path, capsys):
    marker = tmp_path / "evaluated"
    (tmp_path / "cfg.yaml").write_text(
        f"lr: \"__import__('pathlib').Path('{marker}').touch() or 0.1\"\n"
        "gamma: !!python/object/apply:os.system ['true']\n"
    )
    code, _ = train(tmp_path, "ppo", "CartPole-v1", "--config", tmp_path / "cfg.yaml")
    assert code == 2 and "not valid YAML" in one_line_error(capsys)  # safe_load refuses Python tags
    (tmp_path / "cfg.yaml").write_text(f"lr: \"__import__('pathlib').Path('{marker}').touch() or 0.1\"\n")
    code, _ = train(tmp_path, "ppo", "CartPole-v1", "--config", tmp_path / "cfg.yaml")
    assert code == 2 and "lr must be a number or a schedule" in one_line_error(capsys)
    (tmp_path / "cfg.json").write_text('{"lr": "lambda step: 0.001"}')
    code, _ = train(tmp_path, "ppo", "CartPole-v1", "--config", tmp_path / "cfg.json")
    assert code == 2 and "'lambda step: 0.001'" in one_line_error(capsys)
    assert not marker.exists()


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("cfg.json", '{"lr": {"linear": [0.001, 0.0]}}', 'lr: {"linear": [start, end]} runs over the step budget'),
        ("cfg.json", '{"lr": {"cosine": [0.001, 0.0]}}', "lr must be a number or a schedule [[env_step, value], ...]"),
        ("cfg.json", '{"lr": {"linear": [0.001]}}', 'lr: {"linear": [start, end]} needs two numbers'),
        ("cfg.json", "[1, 2]", "expected a mapping of settings at the top, got list"),
        ("cfg.toml", "lr = ", "not valid TOML"),
        ("cfg.toml", "seed = 1979-05-27\n", "seed = datetime.date(1979, 5, 27) is not a plain value"),
        ("cfg.ini", "lr=1", "expected a .yaml, .yml, .toml or .json file"),
        ("missing.json", None, "cannot read it: No such file or directory"),
    ],
)
def test_config_file_errors_are_one_line(tmp_path, capsys, name, text, message):
    if text is not None:
        (tmp_path / name).write_text(text)
    code, _ = train(tmp_path, "ppo", "CartPole-v1", "--stop-return", 100, "--config", tmp_path / name)
    assert code == 2
    assert message in one_line_error(capsys)


def test_yaml_without_pyyaml_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    (tmp_path / "cfg.yaml").write_text("lr: 0.001\n")
    code, _ = train(tmp_path, "ppo", "CartPole-v1", "--config", tmp_path / "cfg.yaml")
    assert code == 2
    assert one_line_error(capsys) == (
        "tripod: error: --config: YAML files need PyYAML: pip install 'tripod-rl[yaml]' (or write TOML or JSON)."
    )


# ------------------------------------------------------------------ --module / --model-config
TINY_MODULE = '''
import torch
from tripod.core import Columns, TorchRLModule
from tripod.core.apis import ValueFunctionAPI


class TinyModule(TorchRLModule, ValueFunctionAPI):
    def setup(self):
        hidden = self.model_config["hidden_dim"]
        n_in = self.observation_space.shape[0]
        self.pi = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.Tanh(),
                                      torch.nn.Linear(hidden, self.action_space.n))
        self.vf = torch.nn.Linear(n_in, 1)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS])}

    def compute_values(self, batch, embeddings=None):
        return self.vf(batch[Columns.OBS]).squeeze(-1)
'''


@pytest.fixture
def module_on_path(tmp_path, monkeypatch) -> str:
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tiny.py").write_text(textwrap.dedent(TINY_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "mypkg.tiny:TinyModule"
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        del sys.modules[name]


def test_train_a_custom_module_with_its_model_config_then_evaluate_it(tmp_path, module_on_path, capsys):
    code, run = train(
        tmp_path, "ppo", "CartPole-v1", "--stop-iters", 2, "--module", module_on_path,
        "--model-config", '{"hidden_dim": 12}', *TINY,
    )  # fmt: skip
    assert code == 0
    config = saved_config(run)
    assert config["rl_module_spec"]["module_class"] == {"__import__": "mypkg.tiny.TinyModule"}
    assert config["model_config"] == {"hidden_dim": 12}
    from tripod.core import RLModule

    module = RLModule.from_checkpoint(run / "checkpoints" / "iter_000002" / "module" / "default_policy")
    assert type(module).__name__ == "TinyModule" and module.pi[0].out_features == 12
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "1", "--module", module_on_path]) == 0
    assert "over 1 greedy episodes" in capsys.readouterr().out


def test_model_config_must_be_a_json_object(tmp_path, capsys):
    code, _ = train(tmp_path, "ppo", "CartPole-v1", "--model-config", "[64, 64]")
    assert code == 2 and "--model-config: expected a JSON object" in one_line_error(capsys)
    code, _ = train(tmp_path, "ppo", "CartPole-v1", "--model-config", "{hidden: 1}")
    assert code == 2 and "--model-config: not valid JSON" in one_line_error(capsys)


def test_train_module_must_be_an_importable_rl_module(tmp_path, capsys):
    code, run = train(tmp_path, "ppo", "CartPole-v1", "--module", "no_such_pkg_x.mod:Cls")
    assert code == 2 and "--module no_such_pkg_x.mod:Cls: cannot import class" in one_line_error(capsys)
    code, run = train(tmp_path, "ppo", "CartPole-v1", "--module", "tripod.io.checkpoint:CheckpointError")
    assert code == 2 and "is not an RLModule subclass" in one_line_error(capsys)
    assert not run.exists()


# ------------------------------------------------------------------ --policies
def test_policies_per_agent_trains_one_module_per_agent_and_loads_back(tmp_path):
    pytest.importorskip("mpe2")
    code, run = train(
        tmp_path, "ppo", "pettingzoo:mpe2.simple_spread_v3", "--stop-iters", 1, "--policies", "per-agent",
        "--set", "train_batch_size_per_learner=150", "--set", "minibatch_size=150", "--num-envs", "1",
        "--eval-episodes", "0", "--quiet",
    )  # fmt: skip
    assert code == 0
    config = saved_config(run)
    assert sorted(config["policies"]) == ["agent_0", "agent_1", "agent_2"] and config["policy_mapping_fn"] is None
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {k.split("/")[1] for k in row if k.startswith("learners/agent_")} == {"agent_0", "agent_1", "agent_2"}
    modules = sorted(p.name for p in (run / "checkpoints" / "iter_000001" / "module").iterdir() if p.is_dir())
    assert modules == ["agent_0", "agent_1", "agent_2"]
    # no mapping function is stored, so the run loads without --trust-checkpoint
    env = ["--env", "pettingzoo:mpe2.simple_spread_v3"]
    assert main(["evaluate", str(run), "--episodes", "1", *env]) == 0
    assert main(["train", "ppo", env[1], "--resume", str(run), "--stop-iters", "2", "--eval-episodes", "0"]) == 0
    assert json.loads((run / "result.json").read_text())["iterations"] == 2


def test_policies_needs_a_multi_agent_env(tmp_path, capsys):
    code, _ = train(tmp_path, "ppo", "CartPole-v1", "--policies", "per-agent")
    assert code == 2
    assert one_line_error(capsys) == (
        "tripod: error: --policies: CartPole-v1 is a single-agent env; --policies is for multi-agent envs."
    )


# ------------------------------------------------------------------ evaluate: runs, checkpoints, best, video
@pytest.fixture(scope="module")
def run_with_checkpoints(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("best") / "run"
    argv = ["train", "ppo", "CartPole-v1", "--stop-iters", "3", "--seed", "0", "--out", str(out),
            "--checkpoint-every", "1", "--keep-checkpoints", "3", *TINY]  # fmt: skip
    assert main(argv) == 0
    return out


def test_best_names_the_kept_checkpoint_with_the_highest_return(run_with_checkpoints):
    from tripod.run.checkpoint_choice import resolve_checkpoint_arg

    run = run_with_checkpoints
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = max(rows, key=lambda r: (r["env_runners/episode_return_mean"], r["training_iteration"]))
    expected = run / "checkpoints" / f"iter_{best['training_iteration']:06d}"
    assert resolve_checkpoint_arg(run / "best") == expected
    assert resolve_checkpoint_arg(run / "checkpoints" / "best") == expected
    assert resolve_checkpoint_arg(run / "checkpoints") == run / "checkpoints" / "iter_000003"
    assert resolve_checkpoint_arg(run) == run / "checkpoints" / "iter_000003"


@pytest.mark.parametrize("suffix", ["", "checkpoints", "best", "checkpoints/best", "checkpoints/iter_000002"])
def test_evaluate_accepts_runs_checkpoint_folders_and_best(run_with_checkpoints, capsys, suffix):
    assert main(["evaluate", str(run_with_checkpoints / suffix), "--episodes", "1"]) == 0
    assert "over 1 greedy episodes" in capsys.readouterr().out


def test_policies_cannot_change_a_resumed_run(run_with_checkpoints, capsys):
    assert main(["train", "--resume", str(run_with_checkpoints), "--policies", "per-agent"]) == 2
    assert one_line_error(capsys) == (
        "tripod: error: --policies applies to a new run: a resumed run keeps its modules."
    )


def test_best_of_a_run_without_checkpoints_is_one_line(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["evaluate", str(tmp_path / "run" / "best")]) == 2
    assert "holds no checkpoints/iter_* to choose from" in one_line_error(capsys)


def test_evaluate_video_writes_mp4s_with_the_video_extra(run_with_checkpoints, tmp_path, capsys):
    pytest.importorskip("moviepy")  # pip install 'tripod-rl[video]'
    videos = tmp_path / "videos"
    assert main(["evaluate", str(run_with_checkpoints), "--episodes", "2", "--video", str(videos)]) == 0
    mp4s = sorted(videos.glob("*.mp4"))
    assert len(mp4s) == 2 and all(p.stat().st_size > 1000 for p in mp4s)
    assert f"Videos written to {videos}" in capsys.readouterr().out
