"""Card names as folder names: where a card's committed baselines live.

python -m vimbench.compare.cards            # slug of this machine's GPU 0
reports/baselines/<slug>/bench.json         # pytest-benchmark JSON made on that card
"""

from __future__ import annotations

import re
import sys

BASELINES_DIR = "reports/baselines"


def card_slug(gpu_name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    slug = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-")
    if not slug:
        raise ValueError(f"GPU name {gpu_name!r} gives an empty folder name")
    return slug


def current_card() -> str:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device: a card's baseline needs the card")
    return torch.cuda.get_device_name(0)


def main() -> int:
    try:
        print(card_slug(current_card()))
    except RuntimeError as exc:
        print(f"vimbench.compare.cards: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
