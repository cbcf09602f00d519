"""The examples in ``examples/`` and the Python code blocks of ``docs/``, run as a user runs them.

Each example runs in a subprocess (with its quick setting) and its printed
numbers are checked. Each docs page's ```python blocks run top to bottom in one
subprocess, like a notebook, in a scratch directory; a block right after a
``<!-- docs-test: skip -->`` line is left out (it needs files made by a shell
command shown on the page).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"
NUMBER = r"-?\d+(?:\.\d+)?"
SKIP_MARK = "<!-- docs-test: skip -->"


def run_python(args: list, cwd: Path, timeout: float = 120) -> str:
    """Run ``python *args`` in ``cwd``; returns stdout, fails the test on a non-zero exit."""
    proc = subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def values(pattern: str, text: str) -> list[float]:
    """Every number captured by ``pattern`` (one group) in ``text``."""
    return [float(m) for m in re.findall(pattern, text)]


# ---------------------------------------------------------------- examples
def test_quickstart_fast(tmp_path):
    out = run_python([EXAMPLES / "quickstart.py", "--fast", "--out", tmp_path / "ckpt"], tmp_path)
    returns = values(rf"return\s+({NUMBER})", out)
    assert len(returns) == 3  # --fast: three iterations
    assert returns[0] > 9 and returns[-1] > returns[0]  # CartPole pays at least 8; PPO improves it
    (greedy,) = values(rf"greedy evaluation return: ({NUMBER})", out)
    assert greedy >= 50, out  # three iterations already lift the greedy policy well above random (~20)
    assert (tmp_path / "ckpt" / "metadata.json").is_file()
    assert (tmp_path / "ckpt" / "module" / "default_policy" / "module_state.safetensors").is_file()


def test_tune_lr_search_fast(tmp_path):
    pytest.importorskip("ray.tune")
    out = run_python([EXAMPLES / "tune_lr_search.py", "--fast", "--storage", tmp_path], tmp_path, timeout=240)
    rows = re.findall(rf"^\s*({NUMBER})\s+({NUMBER})\s+(\d+)$", out, re.MULTILINE)
    assert sorted(float(lr) for lr, _, _ in rows) == [1e-4, 3e-4, 1e-3], out
    (best_lr,) = values(rf"best lr: ({NUMBER})", out)
    assert best_lr in (1e-4, 3e-4, 1e-3)
    (greedy,) = values(rf"greedy return of the best checkpoint: ({NUMBER})", out)
    assert greedy > 0


def test_custom_module_ppo_fast(tmp_path):
    out = run_python([EXAMPLES / "custom_module_ppo.py", "--fast"], tmp_path)
    assert "module: SharedTrunkActorCritic, 4675 parameters" in out
    returns = values(rf"return\s+({NUMBER})", out)
    vf_losses = values(rf"vf loss\s+({NUMBER})", out)
    assert len(returns) == len(vf_losses) == 3
    assert returns[-1] > returns[0] > 9
    assert all(0 < v < 1000 for v in vf_losses)
    (greedy,) = values(rf"greedy evaluation return: ({NUMBER})", out)
    assert greedy >= 9


def test_checkpoint_and_restore_fast(tmp_path):
    out = run_python([EXAMPLES / "checkpoint_and_restore.py", "--fast", "--dir", tmp_path], tmp_path)
    assert "restored PPO at iteration 2, same weights: True" in out
    assert "restored run trained iteration 3" in out
    assert "fresh copy gives the same logits: True" in out
    assert "inference-only copy gives the same logits: True" in out
    assert "inference-only copy has a value function: False" in out
    returns = values(rf"({NUMBER})", out.split("greedy returns of the loaded module:")[1].splitlines()[0])
    assert len(returns) == 3 and all(9 <= r <= 500 for r in returns)
    assert (tmp_path / "algo" / "learner_state.safetensors").is_file()
    assert (tmp_path / "module" / "module_state.safetensors").is_file()


def test_module_errors(tmp_path):
    out = run_python([EXAMPLES / "module_errors.py"], tmp_path)
    assert "all 5 mistakes were caught" in out
    assert "TutorialArgmax.forward_inference() returned a single action" in out
    assert "use logits.argmax(dim=-1)" in out
    assert "returned 'action_dist_inputs' of shape (4, 3); expected (4, 2)" in out
    assert "Convert it with torch.as_tensor" in out
    assert "returned NaN or inf in 'action_dist_inputs'" in out
    assert "or set .training(use_critic=False)" in out


# ---------------------------------------------------------------- docs pages
def python_blocks(page: Path) -> list[tuple[int, str]]:
    """``(line number, code)`` of each ```python block of ``page`` that is not marked to skip."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
            skipped = any(lines[k].strip() == SKIP_MARK for k in range(max(0, i - 2), i))
            if not skipped:
                blocks.append((start + 1, "\n".join(lines[start:end])))
            i = end
        i += 1
    return blocks


PAGES = sorted(p.name for p in DOCS.glob("*.md") if python_blocks(p))


def test_docs_pages_have_code():
    assert {"index.md", "getting-started.md", "rl-modules.md", "training.md", "porting-from-rllib.md"} <= set(
        PAGES
    )


@pytest.mark.parametrize("page", PAGES)
def test_docs_python_blocks_run(page, tmp_path):
    blocks = python_blocks(DOCS / page)
    script = "\n\n".join(f"# --- docs/{page}, block at line {line}\n{code}" for line, code in blocks)
    (tmp_path / "page.py").write_text(script + '\nprint("DOCS-PAGE-OK")\n', encoding="utf-8")
    out = run_python([tmp_path / "page.py"], tmp_path, timeout=180)
    assert out.rstrip().endswith("DOCS-PAGE-OK")


def test_onnx_policy_fast(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = run_python([EXAMPLES / "onnx_policy.py", "--fast", "--out", tmp_path / "exported"], tmp_path)
    assert "imported: tripod False, torch False" in out  # the policy ran on onnxruntime and numpy alone
    returns = values(rf"({NUMBER})", out.split("onnxruntime returns:")[1].splitlines()[0])
    assert len(returns) == 3 and all(9 <= r <= 500 for r in returns)
    (mean,) = values(rf"mean return: ({NUMBER})", out)
    assert mean >= 50, out  # three PPO iterations already lift the greedy policy well above random (~20)
    assert sorted(p.name for p in (tmp_path / "exported").iterdir()) == [
        "default_policy.json", "default_policy.onnx", "metadata.json"
    ]  # fmt: skip
