"""RLlib's legacy model helpers that new-stack module code still imports (RLlib path: ``ray.rllib.models``).

Only :mod:`tripod.models.torch.misc` (conv padding arithmetic, ``SlimConv2d``, ``SlimFC``,
``normc_initializer``). This package is a layer of its own, just above ``tripod.core``.
"""
