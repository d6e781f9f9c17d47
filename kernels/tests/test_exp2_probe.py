"""The exp2 probe (the card's exponential ceiling) vs its PyTorch reference (CPU under
TRITON_INTERPRET=1)."""

import random

import pytest
import torch
from mamba_triton.exp2_probe import exp2_chain, exp2_chain_ref


def test_exp2_probe_matches_reference():
    x = torch.rand(random.randint(100, 3000))
    rounds = random.randint(1, 4)
    out = exp2_chain(x, rounds=rounds, block=256)
    torch.testing.assert_close(out, exp2_chain_ref(x, rounds=rounds), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="float32"):
        exp2_chain(x.double())
