"""Theoretical occupancy on sm_90 (H100) from registers, shared memory and warps per block.

The "occupancy cliffs" of the register count are where one more register per thread
costs a whole block per SM: with 4 warps per block they sit at 128, 168 and 255
registers (4, 3, 2 ... blocks), with 8 warps at 64, 80, 128.  This module computes the
resident blocks and warps so a check can say "crossed a cliff" rather than "grew by 2".
"""

from __future__ import annotations

from dataclasses import dataclass

REGISTERS_PER_SM = 65536
REGISTER_ALLOCATION_UNIT = 256  # registers, allocated per warp
MAX_REGISTERS_PER_THREAD = 255
MAX_WARPS_PER_SM = 64
MAX_BLOCKS_PER_SM = 32
SHARED_BYTES_PER_SM = 233472  # 228 KiB usable by blocks
SHARED_RESERVED_PER_BLOCK = 1024  # the runtime keeps 1 KiB per block


@dataclass(frozen=True)
class Occupancy:
    blocks_per_sm: int
    warps_per_sm: int
    limited_by: str  # "registers" | "shared memory" | "warps" | "blocks"
    register_headroom: int  # registers per thread that can still be added before blocks_per_sm drops


def _registers_per_warp(registers: int) -> int:
    per_warp = registers * 32
    return -(-per_warp // REGISTER_ALLOCATION_UNIT) * REGISTER_ALLOCATION_UNIT


def _limits(registers: int, shared_bytes: int, num_warps: int) -> dict[str, int]:
    warps_by_registers = REGISTERS_PER_SM // _registers_per_warp(max(registers, 1))
    limits = {
        "registers": warps_by_registers // num_warps,
        "warps": MAX_WARPS_PER_SM // num_warps,
        "blocks": MAX_BLOCKS_PER_SM,
    }
    if shared_bytes > 0:
        limits["shared memory"] = SHARED_BYTES_PER_SM // (shared_bytes + SHARED_RESERVED_PER_BLOCK)
    return limits


def occupancy(registers: int, shared_bytes: int, num_warps: int) -> Occupancy:
    if num_warps <= 0:
        raise ValueError(f"num_warps must be positive, got {num_warps}")
    limits = _limits(registers, shared_bytes, num_warps)
    limited_by = min(limits, key=lambda k: (limits[k], k != "registers"))
    blocks = limits[limited_by]
    headroom = 0
    for more in range(registers + 1, MAX_REGISTERS_PER_THREAD + 1):
        if min(_limits(more, shared_bytes, num_warps).values()) < blocks:
            break
        headroom = more - registers
    return Occupancy(blocks, blocks * num_warps, limited_by, headroom)
