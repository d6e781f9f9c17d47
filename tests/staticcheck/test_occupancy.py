"""Occupancy cliffs on sm_90: where one more register costs a block per SM."""

import pytest

from vimbench.staticcheck.occupancy import occupancy


@pytest.mark.parametrize(
    "num_warps, registers, blocks",
    [
        (4, 32, 16),
        (4, 64, 8),
        (4, 65, 7),
        (4, 128, 4),
        (4, 129, 3),
        (4, 168, 3),
        (4, 169, 2),
        (4, 255, 2),
        (8, 64, 4),
        (8, 80, 3),
        (8, 81, 2),
        (8, 128, 2),
        (8, 129, 1),
        (1, 16, 32),  # capped by 32 blocks per SM
    ],
    ids=lambda v: str(v),
)
def test_register_cliffs(num_warps, registers, blocks):
    result = occupancy(registers, 0, num_warps)
    assert result.blocks_per_sm == blocks
    assert result.warps_per_sm == blocks * num_warps
    # headroom is exactly the distance to the next cliff
    if result.register_headroom:
        assert occupancy(registers + result.register_headroom, 0, num_warps).blocks_per_sm == blocks
    if registers + result.register_headroom < 255:
        assert occupancy(registers + result.register_headroom + 1, 0, num_warps).blocks_per_sm < blocks


def test_shared_memory_limits():
    # 100 KB of shared memory per block (+1 KiB reserved) leaves room for 2 blocks in 228 KiB
    result = occupancy(40, 100_000, 4)
    assert (result.blocks_per_sm, result.limited_by) == (2, "shared memory")
    assert occupancy(40, 120_000, 4).blocks_per_sm == 1


def test_rejects_zero_warps():
    with pytest.raises(ValueError, match="num_warps"):
        occupancy(32, 0, 0)
