"""vimbench: benchmark Vision Mamba against ViT/DeiT - throughput, memory, energy, honestly."""

__version__ = "0.1.0"
