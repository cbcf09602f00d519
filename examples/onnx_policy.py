"""Train PPO on CartPole-v1, export the policy to ONNX, and run it with onnxruntime and numpy alone.

    python examples/onnx_policy.py                     # train until the return reaches 475, export, play
    python examples/onnx_policy.py --fast              # 3 iterations: a smoke test
    python examples/onnx_policy.py --checkpoint CKPT   # export a checkpoint (or run directory) instead
    python examples/onnx_policy.py --play DIR          # only play an export made before

Needs ``pip install 'tripod-rl[onnx]'``. The export writes ``DIR/default_policy.onnx`` and
``DIR/default_policy.json``, a sidecar naming the inputs and outputs and how to turn the
outputs into an env action. Playing runs in a fresh Python process that imports neither
tripod nor torch: only onnxruntime, numpy and gymnasium (for the env itself).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


# ----------------------------------------------------------------------------- inference: no tripod
def greedy_action(outputs: dict, rule: dict):
    """The env action from the model's outputs, following the sidecar's ``greedy_action`` rule."""
    import numpy as np

    x = outputs[rule["output"]]
    if rule["greedy"] == "argmax":
        action = x.argmax(axis=-1)
    elif rule["greedy"] == "mean":
        action = x[..., : x.shape[-1] // 2]
    elif rule["greedy"] == "squashed_mean":
        low, high = np.asarray(rule["low"]), np.asarray(rule["high"])
        action = low + (np.tanh(x[..., : x.shape[-1] // 2]) + 1) / 2 * (high - low)
    elif rule["greedy"] == "identity":
        action = x
    else:
        raise ValueError(f"this example does not handle the greedy rule {rule['greedy']!r}")
    if rule.get("offset") is not None:
        action = action + np.asarray(rule["offset"])
    if rule.get("clip") is not None:
        action = np.clip(action, rule["clip"]["low"], rule["clip"]["high"])
    return action


def play(export_dir: Path, episodes: int, seed: int) -> None:
    """Run the exported policy for ``episodes`` greedy episodes; prints each return."""
    import gymnasium as gym
    import numpy as np
    import onnxruntime as ort

    sidecar = json.loads((export_dir / "default_policy.json").read_text())
    session = ort.InferenceSession(str(export_dir / sidecar["file"]), providers=["CPUExecutionProvider"])
    names = [o["name"] for o in sidecar["outputs"]]
    env = gym.make("CartPole-v1")
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, total = False, 0.0
        while not done:
            batch = np.asarray(obs, dtype=np.float32)[None]  # one row: the batch dimension is dynamic
            outputs = dict(zip(names, session.run(None, {"obs": batch})))
            action = int(greedy_action(outputs, sidecar["greedy_action"])[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    print(f"imported: tripod {'tripod' in sys.modules}, torch {'torch' in sys.modules}")
    print(f"onnxruntime returns: {' '.join(f'{r:.1f}' for r in returns)}")
    print(f"mean return: {np.mean(returns):.1f} over {episodes} episodes")


# ----------------------------------------------------------------------------- training and export
def train_and_export(args: argparse.Namespace, out: Path) -> None:
    from tripod.algorithms.ppo import PPOConfig
    from tripod.export import export_algorithm, export_checkpoint

    if args.checkpoint:
        export_checkpoint(args.checkpoint, out, format="onnx", overwrite=True)
        print(f"exported {args.checkpoint} to {out}")
        return
    algo = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=16)
        .training(lr=2e-3, gamma=0.98, lambda_=0.8, train_batch_size_per_learner=2048, minibatch_size=512)
        .rl_module(model_config={"fcnet_hiddens": [64, 64]})
        .debugging(seed=args.seed)
        .build_algo()
    )
    for _ in range(3 if args.fast else 100):
        result = algo.train()
        ret = result["env_runners"]["episode_return_mean"]
        print(f"iter {result['training_iteration']:3d}  return {ret:6.1f}")
        if ret >= 475:
            break
    export_algorithm(algo, out, format="onnx", overwrite=True)
    algo.stop()
    print(f"exported to {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fast", action="store_true", help="train 3 iterations only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", help="export this checkpoint or run directory instead of training")
    parser.add_argument("--out", help="the export directory (default: a new temp dir)")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--play", metavar="DIR", help="only play the export in DIR (no tripod, no torch)")
    args = parser.parse_args()
    if args.play:
        play(Path(args.play), args.episodes, args.seed)
        return
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="tripod-onnx-")) / "exported"
    train_and_export(args, out)
    # A fresh process: the policy runs with onnxruntime and numpy only.
    play_args = ["--play", str(out), "--episodes", str(args.episodes), "--seed", str(args.seed)]
    subprocess.run([sys.executable, __file__, *play_args], check=True)


if __name__ == "__main__":
    main()
