"""Bad command lines get one clear line and exit code 2 (issue 9 §3), run in-process."""

from __future__ import annotations

import pytest

from tripod.cli import CliError, main, parse_overrides


def user_error(capsys, *argv) -> str:
    """``main(argv)`` returns 2 and prints one line starting with ``tripod: error:``."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tripod: error: ") and err.count("\n") == 1, err
    return err


def argparse_error(capsys, *argv) -> str:
    """argparse rejects ``argv`` (exit 2) naming the option; returns the last line."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--stop-time", "-1"], "argument --stop-time: must be > 0, got -1"),
        (["--stop-time", "0"], "argument --stop-time: must be > 0, got 0"),
        (["--stop-time", "inf"], "argument --stop-time: must be a finite number, got 'inf'"),
        (["--stop-return", "nan"], "argument --stop-return: must be a finite number, got 'nan'"),
        (["--stop-return", "high"], "argument --stop-return: expected a number, got 'high'"),
        (["--seed", "-1"], r"argument --seed: must be an int in [0, 2**63 - 1], got -1"),
        (
            ["--seed", str(2**70)],
            "argument --seed: must be an int in [0, 2**63 - 1], got 1180591620717411303424",
        ),
        (["--seed", "1.5"], "argument --seed: expected an integer seed, got '1.5'"),
    ],
)
def test_bad_numbers_on_the_command_line(capsys, argv, match):
    line = argparse_error(capsys, "train", "ppo", "CartPole-v1", *argv)
    assert match in line, line


def test_evaluate_seed_is_checked_too(capsys, tmp_path):
    assert "argument --seed: must be an int in [0, 2**63 - 1]" in argparse_error(
        capsys, "evaluate", tmp_path, "--seed", "-5"
    )


def test_out_naming_a_file_is_a_one_line_error(capsys, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--out", target)
    assert str(target) in err and "not a directory" in err
    assert target.read_text() == "keep me"


def test_out_inside_a_file_is_a_one_line_error(capsys, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--out", target / "run")
    assert f"cannot create run directory {target / 'run'}" in err and "choose another run directory" in err


def test_set_typo_suggests_the_setting(capsys):
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--set", "lr_rate=0.001")
    assert "PPOConfig has no setting 'lr_rate'. Did you mean 'lr'?" in err
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--set", "learning_rate=0.001")
    assert "Did you mean 'lr'?" in err


def test_set_non_finite_value_is_a_one_line_error(capsys):
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--no-preset", "--set", "lr=NaN")
    assert "PPOConfig: lr must be a finite number, got nan" in err
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--no-preset", "--set", "device=cuda:abc")
    assert "device 'cuda:abc' is not a torch device" in err


def test_dotted_set_of_an_unknown_setting_suggests():
    with pytest.raises(CliError, match=r"--set model_cfg.fcnet_hiddens: there is no setting 'model_cfg'. "
                       r"Did you mean 'model_config'\?"):  # fmt: skip
        parse_overrides(["model_cfg.fcnet_hiddens=[32]"], {"model_config": {}, "lr": 0.1})
