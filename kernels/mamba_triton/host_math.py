"""Integer helpers for the launchers' host code.

`triton.cdiv` and `triton.next_power_of_2` are `ConstexprFunction`s in Triton 3.6: usable
inside kernels, but a host call goes through their constexpr unwrapping, about 1 us each.
A Vim-Ti block's launchers made 9 such calls a forward, ~11% of the block's host time
(`benchmarks/host_time_per_block.py --profile`), and at 224 px eager Vim is host-bound."""

from __future__ import annotations


def cdiv(a: int, b: int) -> int:
    """ceil(a / b) for integers, b > 0."""
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    """The smallest power of two >= n for n >= 1, and 0 for 0, as triton.next_power_of_2."""
    return 0 if n == 0 else 1 << (n - 1).bit_length()
