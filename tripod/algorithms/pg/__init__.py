"""Policy gradient (RLlib-style path: ``tripod.algorithms.pg``)."""

from tripod.algorithms.pg.pg import PG, PGConfig
from tripod.algorithms.pg.pg_learner import PGLearner

__all__ = ["PG", "PGConfig", "PGLearner"]
