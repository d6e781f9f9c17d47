"""vimbench: benchmark Vision Mamba against ViT/DeiT - throughput, memory, energy, honestly.

Importing the package registers its models: in vimbench's registry (`vimbench.create_model`,
names from `vimbench list models`) and in timm's (`timm.create_model("vim_tiny_patch16_224")`).
That imports torch and timm; a model module that fails to import is named in
`vimbench.models.IMPORT_ERRORS` instead of breaking the import.
"""

from vimbench.models import create_model, get_model_spec, model_names  # registers the models

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "get_model_spec", "model_names"]
