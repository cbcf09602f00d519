"""InferenceOnlyAPI: modules whose inference-only copy leaves some parts out."""

from __future__ import annotations

import abc


class InferenceOnlyAPI(abc.ABC):
    """Mixin for modules that build less when ``inference_only=True``."""

    @abc.abstractmethod
    def get_non_inference_attributes(self) -> list[str]:
        """Names of the attributes (sub-networks) an inference-only copy does not build."""
