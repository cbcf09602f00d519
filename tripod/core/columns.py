"""Column names used in batches and module outputs (RLlib's ``Columns``)."""


class Columns:
    """String constants for the keys of batches and of forward outputs.

    Use these instead of string literals: ``batch[Columns.OBS]``,
    ``{Columns.ACTION_DIST_INPUTS: logits}``.
    """

    # Sampled data.
    OBS = "obs"
    NEXT_OBS = "new_obs"
    ACTIONS = "actions"
    ACTIONS_FOR_ENV = "actions_for_env"
    REWARDS = "rewards"
    TERMINATEDS = "terminateds"
    TRUNCATEDS = "truncateds"
    INFOS = "infos"
    T = "t"
    EPS_ID = "eps_id"
    AGENT_ID = "agent_id"
    MODULE_ID = "module_id"

    # Module outputs.
    ACTION_DIST_INPUTS = "action_dist_inputs"
    ACTION_PROB = "action_prob"
    ACTION_LOGP = "action_logp"
    EMBEDDINGS = "embeddings"
    VF_PREDS = "vf_preds"
    STATE_IN = "state_in"
    STATE_OUT = "state_out"
    ACTION_MASK = "action_mask"

    # Postprocessing.
    VALUES_BOOTSTRAPPED = "values_bootstrapped"
    ADVANTAGES = "advantages"
    VALUE_TARGETS = "value_targets"
    RETURNS_TO_GO = "returns_to_go"
    INTRINSIC_REWARDS = "intrinsic_rewards"
    LOSS_MASK = "loss_mask"
    SEQ_LENS = "seq_lens"
