"""Recurrent (stateful) modules end to end: sequences, values, losses, multi-agent, checkpoints, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.dqn import DQNConfig
from tripod.algorithms.pg import PGConfig
from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.sac import SACConfig
from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import RLModuleSpec
from tripod.data.sequences import SEQ_LENS
from tripod.env import SingleAgentEnvRunner
from tripod.envs import MultiAgentCartPole
from tripod.envs.memory import MemoryCueEnv
from tripod.learner.advantages import on_policy_training_batch

LSTM = {"use_lstm": True, "lstm_cell_size": 8, "max_seq_len": 5, "fcnet_hiddens": [8]}
SMALL = {"train_batch_size_per_learner": 128, "minibatch_size": 64, "num_epochs": 2}


def lstm_ppo(**model_config) -> PPOConfig:
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=2)
        .training(**SMALL)
        .rl_module(model_config={**LSTM, **model_config})
        .debugging(seed=0)
    )


def training_data(module, runner, num_timesteps=120):
    batch = runner.sample(num_timesteps=num_timesteps)
    return batch, on_policy_training_batch(
        module, batch, use_critic=True, gamma=0.99, lambda_=0.95, normalize=False, device="cpu"
    )


@pytest.mark.parametrize("share", [False, True], ids=["two_lstms", "shared_lstm"])
def test_sequences_replay_what_the_runner_computed(share):
    """Each [B, S] sequence, fed the state stored at its start, gives back the runner's logits,
    and compute_values over the sequences gives the vf_preds used for GAE."""
    algo = lstm_ppo(vf_share_layers=share).build_algo()
    try:
        module = algo.get_module()
        runner = SingleAgentEnvRunner(
            "CartPole-v1",
            module_spec=RLModuleSpec(module_class=type(module), model_config=module.model_config),
            num_envs=3,
            seed=1,
        )
        runner.set_weights(module.get_state(inference_only=True))
        batch, data = training_data(module, runner)
        assert batch[Columns.STATE_IN]  # [T, N, ...] states from the runner
        seqs, S = data[Columns.OBS].shape[0], LSTM["max_seq_len"]
        assert data[Columns.OBS].shape == (seqs, S, 4) and data[Columns.ACTIONS].shape == (seqs, S)
        assert data[SEQ_LENS].max() <= S and int(data[SEQ_LENS].sum()) >= int(batch[Columns.LOSS_MASK].sum())
        mask = data[Columns.LOSS_MASK].bool()
        assert int(mask.sum()) == int(batch[Columns.LOSS_MASK].sum())  # every real row once
        with torch.no_grad():
            out = module.forward_train(data)
            values = module.compute_values(data)
        torch.testing.assert_close(
            out[Columns.ACTION_DIST_INPUTS][mask], data[Columns.ACTION_DIST_INPUTS][mask]
        )
        torch.testing.assert_close(values[mask], data[Columns.VF_PREDS][mask])
        pad = torch.arange(S)[None, :] >= data[SEQ_LENS][:, None]
        assert not mask[pad].any() and (data[Columns.OBS][pad] == 0).all()  # zero-padded, masked
    finally:
        algo.stop()


@pytest.mark.parametrize(
    "make",
    [
        lambda: lstm_ppo(),
        lambda: (
            PGConfig()
            .environment("CartPole-v1")
            .env_runners(num_envs_per_env_runner=2)
            .training(train_batch_size_per_learner=128)
            .rl_module(model_config=LSTM)
            .debugging(seed=0)
        ),
    ],
    ids=["ppo", "pg"],
)
def test_default_lstm_modules_train_and_evaluate(make):
    algo = make().build_algo()
    try:
        module = algo.get_module()
        assert module.is_stateful() and set(module.get_initial_state()) <= {"h", "c", "actor", "critic"}
        result = algo.train()
        stats = result["learners"]["default_policy"]
        assert np.isfinite(stats["total_loss"]) and stats["num_module_steps_trained"] > 0
        assert algo.evaluate(4)["env_runners"]["num_episodes"] == 4
    finally:
        algo.stop()


def test_multi_agent_runner_carries_state_per_agent_and_trains():
    config = (
        PPOConfig()
        .environment(MultiAgentCartPole, env_config={"num_agents": 2})
        .env_runners(num_envs_per_env_runner=2)
        .training(**SMALL)
        .rl_module(model_config=LSTM)
        .multi_agent(policies={"p0", "p1"}, policy_mapping_fn=lambda aid, *a, **k: f"p{aid}")
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        runner = algo.env_runner_group.local_env_runner
        batches = runner.sample(num_timesteps=400)
        for mid in ("p0", "p1"):
            state = batches[mid][Columns.STATE_IN]
            T, N = batches[mid][Columns.REWARDS].shape
            assert state["actor"]["h"].shape == (T, N, 8)
            real = batches[mid][Columns.LOSS_MASK]
            # Inside an episode the state moves on; a stream's first row of an episode starts at zero.
            h = state["actor"]["h"]
            assert np.abs(h[real]).sum() > 0
            ended = batches[mid][Columns.TERMINATEDS] | batches[mid][Columns.TRUNCATEDS]
            starts = real.copy()  # the first round: every stream's first real row starts an episode
            starts[1:] &= ended[:-1] | ~real[:-1]
            assert starts.any() and (h[starts] == 0).all()
            assert (np.abs(h[real & ~starts]).sum(axis=-1) > 0).all()
        result = algo.train()
        assert set(result["learners"]) == {"p0", "p1"}
        assert algo.evaluate(2)["env_runners"]["num_episodes"] == 2
    finally:
        algo.stop()


def test_checkpoint_and_resume_of_a_recurrent_module(tmp_path):
    algo = lstm_ppo().build_algo()
    try:
        algo.train()
        path = algo.save_to_path(tmp_path / "ckpt")
        before = algo.get_module().get_state()
        restored = Algorithm.from_checkpoint(path)
        try:
            after = restored.get_module().get_state()
            assert set(before) == set(after)
            for name in before:
                np.testing.assert_array_equal(np.asarray(before[name]), np.asarray(after[name]))
            assert restored.get_module().is_stateful()
            assert np.isfinite(restored.train()["learners"]["default_policy"]["total_loss"])
        finally:
            restored.stop()
    finally:
        algo.stop()


def test_value_bootstraps_at_truncation_use_the_episode_state():
    """MemoryCueEnv truncated by a TimeLimit before the query: the bootstrap value of the truncated
    row is computed as one more step of its sequence (after the episode's observations), not alone from a fresh state."""
    from gymnasium.wrappers import TimeLimit

    def env_creator(config):
        return TimeLimit(MemoryCueEnv({"delay": 6}), max_episode_steps=4)

    config = (
        PPOConfig().environment(env_creator).env_runners(num_envs_per_env_runner=2)
        .training(**SMALL).rl_module(model_config=LSTM).debugging(seed=0)
    )  # fmt: skip
    algo = config.build_algo()
    try:
        module = algo.get_module()
        runner = algo.env_runner_group.local_env_runner
        batch = runner.sample(num_timesteps=40)
        boot = batch["bootstrap_index"]
        T, N = batch[Columns.REWARDS].shape
        truncated = batch[Columns.TRUNCATEDS].reshape(-1)[boot[boot < (T - 1) * N]]
        assert truncated.all() and truncated.size > 0
        data = on_policy_training_batch(
            module, batch, use_critic=True, gamma=0.9, lambda_=1.0, normalize=False, device="cpu"
        )
        # Value target of a truncated row = r + gamma * V(final obs | state after the episode's steps).
        t, n = divmod(int(boot[0]), N)
        start = t - 3  # 4-step episodes: rows t-3..t
        obs = torch.as_tensor(
            np.concatenate([batch[Columns.OBS][start : t + 1, n], batch["bootstrap_obs"][:1]])
        )
        state = {k: torch.as_tensor(v[start, n])[None] for k, v in batch[Columns.STATE_IN]["critic"].items()}
        initial = {k: torch.as_tensor(v)[None] for k, v in module.get_initial_state()["critic"].items()}
        full_state = {"actor": initial, "critic": state}
        with torch.no_grad():
            values = module.compute_values({Columns.OBS: obs[None], Columns.STATE_IN: full_state})[0]
        expected = float(batch[Columns.REWARDS][t, n]) + 0.9 * float(values[-1])
        flat = data[Columns.VALUE_TARGETS][data[Columns.LOSS_MASK].bool()]
        assert np.isclose(flat.numpy(), expected, atol=1e-5).any()
    finally:
        algo.stop()


@pytest.mark.parametrize(
    "config",
    [DQNConfig().environment("CartPole-v1"), SACConfig().environment("Pendulum-v1")],
    ids=["dqn", "sac"],
)
def test_off_policy_algorithms_refuse_recurrent_modules_at_build(config):
    with pytest.raises(NotImplementedError, match="use_lstm=False.*PPO or PG"):
        config.rl_module(model_config={"use_lstm": True}).build_algo()


def test_off_policy_learner_refuses_a_custom_stateful_module():
    from tripod.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule

    class StatefulDQN(DefaultDQNTorchRLModule):
        def get_initial_state(self):
            return {"h": np.zeros(2, np.float32)}

    config = (
        DQNConfig()
        .environment("CartPole-v1")
        .rl_module(rl_module_spec=RLModuleSpec(module_class=StatefulDQN))
    )
    with pytest.raises(NotImplementedError, match="recurrent.*Train recurrent modules with PPO or PG"):
        config.build_algo()


def test_remote_env_runners_carry_state_and_the_memory_task_is_learned():
    """Two Ray env runners: their batches (state_in included) merge and train the default LSTM."""
    ray = pytest.importorskip("ray")
    import os

    started = not ray.is_initialized()
    if started:
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    config = (
        PPOConfig()
        .environment(MemoryCueEnv, env_config={"delay": 3})
        .env_runners(num_env_runners=2, num_envs_per_env_runner=4, num_cpus_per_env_runner=0.5)
        .training(train_batch_size_per_learner=1024, minibatch_size=256, num_epochs=6, lr=3e-3)
        .rl_module(model_config={"use_lstm": True, "lstm_cell_size": 32, "max_seq_len": 8})
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        for _ in range(20):
            result = algo.train()
        assert result["env_runners"]["episode_return_mean"] >= 0.8, result["env_runners"]
    finally:
        algo.stop()
        if started:
            ray.shutdown()
