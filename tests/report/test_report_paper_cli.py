"""The paper's Figure 1 data file, and `vimbench report` through the top-level CLI."""

import numpy as np
import pytest
from report_synthetic import row, write_run

from vimbench.cli import main as vimbench_main
from vimbench.report.paper import load_paper_figure1


def test_paper_figure1_is_consistent():
    paper = load_paper_figure1()
    assert list(paper["resolution"]) == [512, 640, 736, 1024, 1248]
    assert list(paper["paper_resolution"]) == [512, 640, 738, 1024, 1248]
    # patch tokens of a 16-px-patch model: 738 in the paper is 736 here (2116 = 46^2 patches)
    assert list(paper["patches"]) == [(r // 16) ** 2 for r in paper["resolution"]]
    for fam in ("deit_ti", "vim_ti"):
        np.testing.assert_allclose(paper[f"{fam}_fps"], 10 ** paper[f"{fam}_log10_fps"], rtol=2e-3)
    # DeiT-Ti is OOM at 1248 (no memory value); the claims follow from the figure within reading error
    assert list(paper["deit_ti_oom"]) == [0, 0, 0, 0, 1] and np.isnan(paper["deit_ti_gb"].iloc[-1])
    at_1248 = paper.iloc[-1]
    assert at_1248["vim_ti_fps"] / at_1248["deit_ti_fps"] == pytest.approx(2.8, abs=0.05)


def test_vimbench_report_through_the_cli(tmp_path, capsys):
    run = write_run(tmp_path / "run", [row("vim_tiny", "triton", 512, ips=100.0, mem=1e9),
                                       row("deit_tiny", "sdpa", 512, ips=50.0, mem=2e9)])
    assert vimbench_main(["report", str(run)]) == 0
    assert "report.md" in capsys.readouterr().out
    text = (run / "report" / "report.md").read_text()
    assert f"Regenerate with `vimbench report {run}`" in text
    assert "| 512 | Vim-Ti (triton) | DeiT-Ti (sdpa) | 100.0 | 50.0 | 2.00x | 1.00 | 2.00 | 50.0% |" in text
    assert vimbench_main(["report", str(tmp_path / "missing")]) == 2
