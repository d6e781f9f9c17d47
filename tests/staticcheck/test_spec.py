"""Signatures built like the JIT specialises a launch's arguments."""

import pytest
import toy_kernels
from triton.runtime.jit import JITFunction

from vimbench.staticcheck.spec import KernelConfig, Pointer, SpecError, build_signature


def jit(fn):
    # a real JITFunction even under TRITON_INTERPRET (which this test session sets)
    return JITFunction(getattr(fn, "fn", fn))


def test_signature_types_constants_and_divisibility():
    kernel = jit(toy_kernels.toy_scan)
    config = KernelConfig(
        "c",
        kernel,
        args={
            "x_ptr": Pointer("bf16"),
            "a_ptr": Pointer("fp32", aligned=False),
            "y_ptr": Pointer("bf16"),
            "L": 197,
            "stride_t": 1,
        },
        constexprs={"BLOCK_D": 32, "N": 16},
    )
    sig = build_signature(config)
    assert sig.types == {
        "x_ptr": "*bf16",
        "a_ptr": "*fp32",
        "y_ptr": "*bf16",
        "L": "i32",
        "stride_t": "constexpr",
        "BLOCK_D": "constexpr",
        "N": "constexpr",
    }
    assert sig.constants == {(4,): 1, (5,): 32, (6,): 16}  # stride 1 is specialised away, like the JIT does
    assert sig.attrs == {(0,): [["tt.divisibility", 16]], (2,): [["tt.divisibility", 16]]}
    big = build_signature(
        KernelConfig("c", kernel, args=dict(config.args, L=2**33, stride_t=384), constexprs=config.constexprs)
    )
    assert big.types["L"] == "i64" and big.attrs[(4,)] == [["tt.divisibility", 16]]


def test_clear_errors():
    kernel = jit(toy_kernels.toy_scan)
    with pytest.raises(SpecError, match="not parameters of toy_scan"):
        build_signature(KernelConfig("c", kernel, args={"nope": 1}, constexprs={"BLOCK_D": 32, "N": 16}))
    with pytest.raises(SpecError, match="'L' of toy_scan has no example value"):
        build_signature(
            KernelConfig(
                "c",
                kernel,
                args={"x_ptr": Pointer("bf16"), "a_ptr": Pointer("fp32"), "y_ptr": Pointer("bf16")},
                constexprs={"BLOCK_D": 32, "N": 16},
            )
        )
    with pytest.raises(SpecError, match="constexpr 'N' of toy_scan needs a value"):
        build_signature(
            KernelConfig(
                "c",
                kernel,
                args={
                    "x_ptr": Pointer("bf16"),
                    "a_ptr": Pointer("fp32"),
                    "y_ptr": Pointer("bf16"),
                    "L": 7,
                    "stride_t": 3,
                },
                constexprs={"BLOCK_D": 32},
            )
        )
