"""tripod side of the evaluation-stopped races: train with the tuned preset (as ``tripod train``
does) and every ``--eval-every`` env steps run 10 greedy episodes on a separate env; stop once
their mean reaches ``--stop-return``. Prints one JSON line. Run by race_*.py in a fresh process."""

import argparse
import json
import time

T0 = time.perf_counter()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("algo")
    p.add_argument("env")
    p.add_argument("--stop-return", type=float, required=True)
    p.add_argument("--eval-every", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=200_000)
    p.add_argument("--set", default="{}", help="JSON dict of config overrides on top of the preset")
    a = p.parse_args()

    from tripod.algorithms.presets import get_preset
    from tripod.algorithms.registry import get_config_class

    config = get_config_class(a.algo)().environment(a.env).debugging(seed=a.seed)
    config.update_from_dict(get_preset(a.algo, a.env) or {})
    config.update_from_dict(json.loads(a.set))
    algo = config.build_algo()
    next_eval, evaluation, num_evals = a.eval_every, None, 0
    while algo.num_env_steps_sampled_lifetime < a.max_steps:
        algo.train()
        if algo.num_env_steps_sampled_lifetime >= next_eval:
            next_eval += a.eval_every
            num_evals += 1
            evaluation = algo.evaluate(10)["env_runners"]
            if evaluation["episode_return_mean"] >= a.stop_return:
                break
    algo.stop()
    print(
        json.dumps(
            {
                "lib": "tripod",
                "seed": a.seed,
                "env_steps": algo.num_env_steps_sampled_lifetime,
                "eval_return_mean": None if evaluation is None else evaluation["episode_return_mean"],
                "num_evals": num_evals,
                "wall_s_inside": time.perf_counter() - T0,
            }
        )
    )


if __name__ == "__main__":
    main()
