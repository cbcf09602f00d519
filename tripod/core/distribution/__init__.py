"""Action distributions at RLlib's paths: ``distribution`` (the base class), ``torch.torch_distribution``
(the torch classes) and ``action_dist`` (choosing one for an action space, building one from module outputs)."""
