"""``SingleAgentEnvRunner(config=cfg)`` and ``MultiAgentEnvRunner(config=cfg)``: RLlib's way to build a runner."""

from __future__ import annotations

import numpy as np
import pytest

from tripod.algorithms.dqn import DQNConfig
from tripod.algorithms.ppo import DefaultPPOTorchRLModule, PPOConfig
from tripod.core import MultiRLModuleSpec, RLModuleSpec
from tripod.env import MultiAgentEnvRunner, SingleAgentEnvRunner
from tripod.envs import MultiAgentCartPole


def assert_same_batches(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        if isinstance(a[key], dict):
            assert_same_batches(a[key], b[key])
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def ppo_config():
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=2, rollout_fragment_length=16)
        .debugging(seed=5)
    )


def test_single_agent_config_form_samples_like_the_keyword_form():
    config = ppo_config()
    from_config = SingleAgentEnvRunner(config=config)
    spec = RLModuleSpec(module_class=DefaultPPOTorchRLModule, model_config=dict(config.model_config))
    by_keywords = SingleAgentEnvRunner(
        "CartPole-v1", module_spec=spec, num_envs=2, rollout_fragment_length=16, seed=5
    )
    try:
        assert from_config.config is config and from_config.num_envs == 2
        assert from_config.rollout_fragment_length == 16
        assert isinstance(from_config.module, DefaultPPOTorchRLModule)
        for _ in range(3):
            assert_same_batches(from_config.sample(), by_keywords.sample())
    finally:
        from_config.stop()
        by_keywords.stop()


def test_config_form_resolves_auto_fragment_and_keywords_override():
    config = (
        ppo_config().env_runners(rollout_fragment_length="auto").training(train_batch_size_per_learner=64)
    )
    runner = SingleAgentEnvRunner(config=config, worker_index=1, num_envs=4, num_workers=2, tune_trial_id="t")
    try:
        assert runner.num_envs == 4 and runner.worker_index == 1
        assert runner.rollout_fragment_length == 64 // 2  # "auto": batch size / the config's envs per runner
        assert runner.seed == 5
    finally:
        runner.stop()
    with pytest.raises(TypeError, match="unexpected keyword"):
        SingleAgentEnvRunner(config=config, num_env=3)
    with pytest.raises(TypeError, match="needs an env"):
        SingleAgentEnvRunner()


def test_config_form_fills_the_algorithms_default_module_and_model_config():
    config = DQNConfig().environment("CartPole-v1").training(dueling=False).debugging(seed=0)
    runner = SingleAgentEnvRunner(config=config)
    try:
        assert isinstance(runner.module, DQNConfig.algo_class.default_module_class)
        assert runner.module.model_config["dueling"] is False  # DQN's default_model_config
    finally:
        runner.stop()


def test_multi_agent_config_form_samples_like_the_keyword_form():
    def mapping(agent_id, episode, **kwargs):
        return f"p{agent_id}"

    config = (
        PPOConfig()
        .environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .env_runners(num_envs_per_env_runner=2, rollout_fragment_length=20)
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=mapping)
        .debugging(seed=3)
    )
    from_config = MultiAgentEnvRunner(config=config)
    sub = RLModuleSpec(module_class=DefaultPPOTorchRLModule, model_config=dict(config.model_config))
    spec = MultiRLModuleSpec(rl_module_specs={"p0": sub, "p1": sub})
    by_keywords = MultiAgentEnvRunner(
        MultiAgentCartPole,
        env_config={"num_agents": 2},
        module_spec=spec,
        policy_mapping_fn=mapping,
        num_envs=2,
        rollout_fragment_length=20,
        seed=3,
    )
    try:
        assert from_config.module_ids == ["p0", "p1"] and from_config.num_envs == 2
        for _ in range(3):
            assert_same_batches(from_config.sample(), by_keywords.sample())
    finally:
        from_config.stop()
        by_keywords.stop()
