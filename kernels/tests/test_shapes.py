"""The scan benchmark cases: inputs laid out as the Vim mixer lays them out (B and C are
N-wide slices of one x_proj output whose rows are padded to a multiple of 8), names that
round-trip, and bad names that say what is allowed."""

import pytest
from mamba_triton.shapes import SCAN_CASES, make_inputs, parse_case, x_proj_layout


@pytest.mark.parametrize("case", SCAN_CASES, ids=lambda c: c.name)
def test_case_inputs_have_the_interface_shapes(case):
    args, kwargs = make_inputs(case, device="meta")
    u, B, C = args[0], args[3], args[4]
    width, _ = x_proj_layout(case.dt_rank, case.N)
    for name, t in (("B", B), ("C", C)):
        assert t.shape == (case.batch, case.N, case.L), name
        assert t.stride(2) == width, name  # one x_proj row per token
    assert u.shape == (case.batch, case.dim, case.L)


@pytest.mark.parametrize("name", ["vim_tiny-224-b1-fp32-fwd", "vim_base-1248-b8-fp16-bidirdt"])
def test_names_round_trip(name):
    case = parse_case(name)
    assert case.name == name
    args, kwargs = make_inputs(case, device="meta")
    assert args[0].shape == (case.batch, case.dim, case.L) and args[0].dtype == case.torch_dtype
    if case.direction == "bidirdt":
        assert kwargs["delta_proj_weight"].shape == (case.dim, case.dt_rank)


@pytest.mark.parametrize("bad", ["vim_huge-224-b1-bf16-fwd", "vim_tiny-300-b1-bf16-fwd", "vim_tiny-224-b0-bf16-fwd",
                                 "vim_tiny-224-b1-int8-fwd", "vim_tiny-224-b1-bf16-sideways", "vim_tiny-224"])
def test_bad_names_say_what_is_allowed(bad):
    with pytest.raises(ValueError, match="bad shape name"):
        parse_case(bad)
