"""Settings for the whole suite.

The Ray tests (tests/integration/test_ray_*.py) start a local Ray with 2 CPUs and no dashboard;
Ray's usage statistics stay off for every Ray the suite starts, subprocesses included.
"""

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
