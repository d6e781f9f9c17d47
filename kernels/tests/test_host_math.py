"""The launchers' host integer helpers agree with Triton's own on fresh random integers."""

from __future__ import annotations

import torch
import triton
from mamba_triton.host_math import cdiv, next_power_of_2


def test_cdiv_and_next_power_of_2_match_triton():
    gen = torch.Generator().manual_seed(torch.initial_seed())
    values = torch.randint(0, 1 << 40, (300,), generator=gen).tolist() + [0, 1, 2, 3, 4, 5, 1023, 1024, 1025]
    divisors = torch.randint(1, 1 << 12, (len(values),), generator=gen).tolist()
    for a, b in zip(values, divisors):
        assert cdiv(a, b) == triton.cdiv(a, b), (a, b)
        assert next_power_of_2(a) == triton.next_power_of_2(a), a
