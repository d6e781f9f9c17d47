"""Model registry: importing this package registers every model vimbench can sweep.

A model module that fails to import (e.g. a kernel library missing on this machine) does
not take the others down: its error is kept in `IMPORT_ERRORS` and named wherever one of
its models is asked for.
"""

import importlib

from .registry import ModelSpec, create_model, get_model_spec, model_names, register_model

MODEL_MODULES = ("deit", "vim")
IMPORT_ERRORS: dict[str, str] = {}

for _module in MODEL_MODULES:
    try:
        importlib.import_module(f"{__name__}.{_module}")  # registration side effects
    except Exception as _exc:  # noqa: BLE001 - recorded and reported, never silent
        IMPORT_ERRORS[f"{__name__}.{_module}"] = f"{type(_exc).__name__}: {_exc}"

__all__ = ["IMPORT_ERRORS", "ModelSpec", "create_model", "get_model_spec", "model_names", "register_model"]
