"""`vimbench kernels` (the scan kernel benchmark) on the command line: argument errors exit 2
with a message naming what is allowed, before any GPU work."""

from __future__ import annotations

import pytest
import torch

from vimbench.cli import main as cli_main


def test_bad_shape_name_is_a_usage_error(capsys):
    assert cli_main(["kernels", "--shapes", "vim_huge-1248-b128-bf16-fwd"]) == 2
    err = capsys.readouterr().err
    assert "vim_huge-1248-b128-bf16-fwd" in err and "vim_tiny" in err and "fwd|bidir" in err


def test_bad_direction_is_a_usage_error(capsys):
    assert cli_main(["kernels", "--shapes", "vim_tiny-224-b8-bf16-sideways"]) == 2
    assert "direction fwd|bidir" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_without_a_gpu_says_so(capsys):
    assert cli_main(["kernels", "--shapes", "vim_tiny-224-b8-bf16-fwd"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err
