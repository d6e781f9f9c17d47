"""Test setup of the kernel library.

Without a GPU the Triton kernels run under the interpreter (exact, slow).  The variable
is read when a kernel is decorated, so it must be set before any kernel module is
imported: that is why it lives here, at the top of the first module pytest loads.
"""

import os
import zlib

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

# A new seed every session (fresh inputs), printed in the header so a failure can be
# replayed with MAMBA_TRITON_TEST_SEED=<seed>.
SESSION_SEED = int(os.environ.get("MAMBA_TRITON_TEST_SEED", int.from_bytes(os.urandom(4), "little")))


def pytest_report_header(config):
    return (f"mamba_triton: MAMBA_TRITON_TEST_SEED={SESSION_SEED} "
            f"TRITON_INTERPRET={os.environ.get('TRITON_INTERPRET', '0')}")


@pytest.fixture(autouse=True)
def _fresh_seed(request):
    """Every test draws its own inputs from the session seed and its own id."""
    torch.manual_seed((SESSION_SEED ^ zlib.crc32(request.node.nodeid.encode())) % (2**31))
    yield


@pytest.fixture
def tensors_on_test_device():
    """New tensors on the test device (the GPU where there is one); test modules opt in."""
    from mamba_triton.testing import on_test_device

    with on_test_device():
        yield
