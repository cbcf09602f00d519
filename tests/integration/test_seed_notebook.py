"""The seed tutorial, run as written (only ``ray.rllib`` -> ``tripod`` in its imports).

``examples/seed_notebook.py`` is the tutorial's code with fixed seeds. Run as a script it
must print what the tutorial prints, with values that agree with each other; and its
module's known bug (``np.argmax`` over a whole batch) must be caught by tripod's
validation with an error that says how to fix it.
"""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tripod.core.rl_module.validation import ModuleOutputError, OutputValidator

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "seed_notebook.py"
NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


def _floats(line: str) -> list[float]:
    inside = re.search(r"tensor\(\[([^\]]*)\]", line)
    assert inside, line
    return [float(x) for x in re.findall(NUMBER, inside.group(1))]


@pytest.fixture(scope="module")
def printed() -> list[str]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()


def test_prints_the_tutorial_cells(printed):
    # With the script's seeds the exploration cell takes its distribution branch (not the
    # 20% random one), so every cell prints: obs, action, dist, logits, probs, then train.
    assert [line.split(":")[0] for line in printed] == [
        "Obs",
        "Action",
        "Action dist",
        "Logits",
        "Probabilities",
        "Action",
        "Logits",
        "Probabilities",
    ]
    assert len(_floats(printed[0])) == 4
    assert printed[2] == "Action dist: {'action_dist_inputs': Categorical(logits: torch.Size([2]))}"


def test_inference_action_is_the_argmax_of_the_logits(printed):
    action = printed[1].removeprefix("Action: ")
    assert re.fullmatch(r"[01]", action), action  # a plain int, not tensor(...) or an array
    logits = _floats(printed[3])
    assert len(logits) == 2 and logits[0] != logits[1]
    assert int(action) == int(np.argmax(logits))


def test_probabilities_are_the_softmax_of_the_logits(printed):
    for logits_line, probs_line in ((printed[3], printed[4]), (printed[6], printed[7])):
        logits, probs = np.array(_floats(logits_line)), np.array(_floats(probs_line))
        softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        np.testing.assert_allclose(probs, softmax, atol=2e-4)  # 4 printed decimals
    # Same weights, same observation: train logits equal the exploration logits.
    assert _floats(printed[3]) == _floats(printed[6])


def test_exploration_and_train_outputs_carry_gradients(printed):
    # The tutorial's _forward_exploration has no no_grad(); tripod runs it as written.
    assert "grad_fn=<SubBackward0>" in printed[3]
    assert "grad_fn=<SoftmaxBackward0>" in printed[4]
    assert "grad_fn=" in printed[6] and "grad_fn=" in printed[7]


def test_train_sample_is_an_action(printed):
    assert re.fullmatch(r"Action: [01]", printed[5]), printed[5]


@pytest.fixture(scope="module")
def tutorial_namespace():
    # Runs the script in-process to get its module class (its prints go to the captured stdout).
    return runpy.run_path(str(SCRIPT), run_name="seed_notebook")


@pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")  # np.argmax on a tensor
def test_tutorial_module_on_a_batch_fails_validation_with_the_argmax_fix(tutorial_namespace, monkeypatch):
    ns = tutorial_namespace
    module = ns["spec"].build()
    assert type(module).__name__ == "DiscreteTorchModule"
    env = ns["env"]
    env.observation_space.seed(1)
    obs = torch.from_numpy(np.stack([env.observation_space.sample() for _ in range(8)]))
    validator = OutputValidator(module)

    out = module.forward_inference({"obs": obs})
    with pytest.raises(ModuleOutputError) as info:
        validator.check("forward_inference", out, batch_size=8)
    msg = str(info.value)
    assert "DiscreteTorchModule.forward_inference()" in msg
    assert "argmax(dim=-1)" in msg and "batch of 8" in msg

    # The exploration cell's random branch (np.random.choice) has the same bug.
    monkeypatch.setattr(np.random, "rand", lambda: 0.0)
    out = module.forward_exploration({"obs": obs})
    with pytest.raises(
        ModuleOutputError, match=r"DiscreteTorchModule\.forward_exploration\(\).*np\.random\.choice"
    ):
        validator.check("forward_exploration", out, batch_size=8)
    # Its distribution branch is fine on a batch.
    monkeypatch.setattr(np.random, "rand", lambda: 0.9)
    validator.check("forward_exploration", module.forward_exploration({"obs": obs}), batch_size=8)
    validator.check("forward_train", module.forward_train({"obs": obs}), batch_size=8)
