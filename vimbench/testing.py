"""The closeness rule, tolerance table and NaN-poisoning of the kernel library
(`mamba_triton.testing`), shared by vimbench's model tests: one definition."""

from mamba_triton.testing import (  # noqa: F401
    TEST_DEVICE,
    TOLERANCE,
    assert_close,
    on_test_device,
    poison_allocations,
    rel_err,
)
