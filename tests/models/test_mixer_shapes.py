"""The kernel library's benchmark shapes (mamba_triton.shapes) lay B and C out as our Vim
mixer does: slices of one x_proj output whose rows are padded to a multiple of 8."""

import pytest
from mamba_triton.shapes import x_proj_layout

from vimbench.models.vim_mixer import BiMambaV2Mixer


@pytest.mark.parametrize("d_model", [192, 384, 768, 16])
def test_x_proj_layout_matches_the_mixer(d_model):
    mixer = BiMambaV2Mixer(d_model, scan_backend="torch")
    width, b_col = x_proj_layout(mixer.dt_rank, mixer.d_state)
    assert width == mixer.dt_rank + 2 * mixer.d_state + mixer.x_proj_pad and width % 8 == 0
    assert b_col == mixer.dt_rank
