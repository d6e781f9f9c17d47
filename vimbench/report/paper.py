"""The paper's Figure 1 values (vimbench/data/paper_figure1.csv, which cites its source)."""

from __future__ import annotations

from importlib import resources

PAPER_CITATION = ('Zhu et al., "Vision Mamba: Efficient Visual Representation Learning with Bidirectional '
                  'State Space Model", ICML 2024, arXiv:2401.09417, Figure 1')


def load_paper_figure1():
    """DataFrame with resolution (our 736 for the paper's 738), patches, *_fps, *_gb, deit_ti_oom."""
    import pandas as pd

    with resources.files("vimbench").joinpath("data", "paper_figure1.csv").open(encoding="utf-8") as fh:
        return pd.read_csv(fh, comment="#")
