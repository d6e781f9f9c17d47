"""`vimbench kernels`, the front-end of the kernel library's benchmark (`python -m
mamba_triton.bench`, tested in kernels/tests/test_bench.py): same options, its own name in
the messages."""

import pytest
import torch

from vimbench.cli import main as cli_main


def test_bad_shape_name_is_a_usage_error(capsys):
    assert cli_main(["kernels", "--shapes", "vim_huge-1248-b128-bf16-fwd"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vimbench kernels: --shapes:") and "vim_huge-1248-b128-bf16-fwd" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_without_a_gpu_says_so(capsys):
    assert cli_main(["kernels", "--shapes", "vim_tiny-224-b8-bf16-fwd"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def test_against_mamba_ssm_is_offered(capsys):
    with pytest.raises(SystemExit):
        cli_main(["kernels", "--help"])
    assert "--against-mamba-ssm" in capsys.readouterr().out
