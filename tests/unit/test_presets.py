"""Presets and default stop criteria used by `tripod train`."""

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
