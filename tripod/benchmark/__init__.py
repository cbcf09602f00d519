"""``tripod benchmark``: whole-process races of tripod against Stable-Baselines3 (and RLlib), in the package.

:mod:`tripod.benchmark.races` names the races; each run is a fresh process of
:mod:`tripod.benchmark.sides` (tripod, SB3) or of the standalone :mod:`tripod.benchmark.rllib_side`
(run by another interpreter that has RLlib); :mod:`tripod.benchmark.report` prints the rich table
and writes the Markdown and the plot. The peers come with ``pip install 'tripod-rl[benchmarks]'``;
without them tripod is benchmarked alone.
"""
