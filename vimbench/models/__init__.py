"""Model registry: importing this package registers every model vimbench can sweep."""

from . import deit, vim  # noqa: F401  (registration side effects)
from .registry import ModelSpec, create_model, get_model_spec, model_names, register_model

__all__ = ["ModelSpec", "create_model", "get_model_spec", "model_names", "register_model"]
