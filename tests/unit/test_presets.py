"""Presets and default stop criteria used by `tripod train`."""

import pytest

from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.presets import FALLBACK_STOP, default_stop, get_preset, list_presets


def test_every_preset_applies_to_its_config():
    from tripod.algorithms.registry import get_config_class

    presets = list_presets()
    assert {algo for algo, _ in presets} >= {"ppo", "dqn", "sac"}
    for algo, env in presets:
        preset = get_preset(algo, env)
        defaults = get_config_class(algo)()
        config = get_config_class(algo)().environment(env).update_from_dict(preset)
        config.validate()
        assert config.env == env
        applied = {key: getattr(config, key) for key in preset}
        assert applied == preset, f"{algo} on {env}: the preset was not applied as written"
        changed = [key for key in preset if getattr(defaults, key) != preset[key]]
        assert changed, f"{algo} on {env}: the preset only repeats the defaults"


def test_preset_is_a_copy():
    preset = get_preset("ppo", "CartPole-v1")
    preset["model_config"]["fcnet_hiddens"].append(1)
    assert get_preset("ppo", "CartPole-v1")["model_config"]["fcnet_hiddens"] == [64, 64]
    assert get_preset("ppo", "NoSuchEnv-v0") is None
    assert get_preset("PPO", "CartPole-v1") is not None


def test_default_stop_ends_every_run():
    assert default_stop("CartPole-v1") == {"stop_return": 475.0, "stop_steps": 300_000}
    assert default_stop("SomethingElse-v0") == FALLBACK_STOP
    assert default_stop(PPOConfig) == FALLBACK_STOP  # env classes have no preset


def _preset_algo(algo: str, env: str, **overrides):
    from tripod.algorithms.registry import get_config_class

    config = get_config_class(algo)().environment(env).debugging(seed=0)
    return config.update_from_dict({**get_preset(algo, env), **overrides}).build_algo()


def test_dqn_cartpole_preset_decays_its_learning_rate():
    """The DQN CartPole preset anneals lr (2.3e-3 -> 1e-4 by 50k env steps): with a constant lr
    the greedy policy collapsed after solving; the learner's optimizer follows the schedule."""
    from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID

    algo = _preset_algo("dqn", "CartPole-v1")
    try:

        def lr_at(steps: int) -> float:
            algo.learner_group.set_learning_rates(steps)
            return algo.learner_group.foreach_learner(
                lambda learner: learner.optimizers[DEFAULT_MODULE_ID].param_groups[0]["lr"]
            )[0]

        assert lr_at(0) == 2.3e-3
        assert 1e-4 < lr_at(25_000) < 2.3e-3
        assert lr_at(50_000) == pytest.approx(1e-4) and lr_at(300_000) == pytest.approx(1e-4)
    finally:
        algo.stop()


def test_off_policy_presets_evaluate_the_greedy_policy_while_training():
    """DQN CartPole and SAC Pendulum evaluate periodically (their training return lags the greedy
    policy by tens of thousands of env steps), so `tripod train` stops soon after the greedy policy
    is solved; SAC Pendulum evaluates every iteration, 10 episodes."""
    assert get_preset("dqn", "CartPole-v1")["evaluation_interval"] == 10
    algo = _preset_algo("sac", "Pendulum-v1", min_sample_timesteps_per_iteration=200)
    try:
        result = algo.train()
        assert result["evaluation"]["env_runners"]["num_episodes"] == 10
        assert result["num_env_steps_sampled_lifetime"] == 200
    finally:
        algo.stop()
