"""The `mamba_triton_traced` ops as torch.compile sees them: AOTAutograd runs each launcher
on fake CUDA tensors, every kernel launch becomes a graph node, and no custom op is left
for the compiled code to call through the dispatcher.  The kernels' mutation analysis
(which tensors a launch writes, hence which ones functionalization must copy) compiles
them to TTIR for sm_90, so this runs in a child process without TRITON_INTERPRET and with
an sm_90 target in place of a driver: no GPU needed.  The wanted property: each launch
writes only the buffers its launcher allocated (or the declared in-place residual), so
inductor copies nothing.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent('''
    import json, torch, triton
    from triton.backends.compiler import GPUTarget

    class _Sm90:  # what the mutation analysis asks of the driver
        def get_current_target(self):
            return GPUTarget("cuda", 90, 32)

    triton.runtime.driver.set_active(_Sm90())
    from torch._higher_order_ops import triton_kernel_wrap as wrap
    analysed = []
    for name in ("identify_accessed_tensors", "identify_mutated_tensors"):  # count torch's own analyses
        if hasattr(wrap, name):
            def counted(*args, _analyse=getattr(wrap, name), **kwargs):
                analysed.append(1)
                return _analyse(*args, **kwargs)
            setattr(wrap, name, counted)
    from torch._functorch.aot_autograd import aot_function
    from torch._subclasses.fake_tensor import FakeTensorMode
    import mamba_triton.selective_scan.fused as scan_launcher
    from mamba_triton import ops

    scan_launcher._sm_count = lambda index: 132  # H100's SMs: no device to ask
    ops.COMPILED_OPS, ops.EAGER_THROUGH_OPS = "traced", True
    SCHEME, L = {scheme!r}, {L}

    def block(x, w, w_b, hidden, residual, norm_w, A, D, dt_bias, W, z):
        y_f, y_b = ops.bidirectional_conv1d(x, w, None, w_b, None)
        normed, _ = ops.add_rmsnorm(hidden, residual, norm_w, 1e-5, torch.float16, residual_out=residual)
        dt, B, C = (hidden[..., s].transpose(1, 2) for s in (slice(0, 2), slice(2, 6), slice(4, 8)))
        y = ops.bidirectional_scan(y_f.transpose(1, 2), dt, A, B, C, D, dt_bias, y_b.transpose(1, 2), dt, A, B,
                                   C, D, dt_bias, z, True, delta_proj_weight=W, delta_proj_weight_b=W,
                                   scheme=SCHEME, seg_len=8 if SCHEME == "chunked" else None)
        return y, normed

    def layer(*args):  # two blocks of the same shapes: the second one's analyses are memo hits
        return block(*args), block(*args)

    graphs = []
    with FakeTensorMode():
        def t(*shape, dtype=torch.float32):
            return torch.randn(*shape, device="cuda", dtype=dtype)
        args = (t(2, L, 8, dtype=torch.float16), t(8, 4), t(8, 4), t(2, L, 8, dtype=torch.float16), t(2, L, 8),
                t(8), -t(8, 4).abs(), t(8), t(8), t(8, 2), t(2, L, 8, dtype=torch.float16).transpose(1, 2))
        with torch.no_grad():
            aot_function(layer, fw_compiler=lambda gm, _: graphs.append(gm) or gm)(*args)
    launches, custom_ops = [], []
    for node in graphs[0].graph.nodes:
        if "triton_kernel_wrapper" in str(node.target):
            launches.append(dict(kernel=node.kwargs["kernel_idx"], grid=node.kwargs["grid"],
                                 written=sorted(node.kwargs["tensors_to_clone"])))
        elif "mamba_triton" in str(node.target):
            custom_ops.append(str(node.target))
    print(json.dumps(dict(launches=launches, custom_ops=custom_ops, analysed=len(analysed))))
''')


@pytest.mark.parametrize("scheme,L,writes", [
    ("direct", 16, [["p_yb", "p_yf"], ["p_out", "p_res_out"], ["p_y"]]),
    # chunked: pass 1 writes the segment states and dt sums, the carry kernel the states,
    # pass 2 the output
    ("chunked", 32, [["p_yb", "p_yf"], ["p_out", "p_res_out"], ["p_dtsum", "p_state"], ["p_state"], ["p_y"]]),
])
def test_each_launch_is_a_graph_node_writing_only_its_outputs(scheme, L, writes):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    child = subprocess.run([sys.executable, "-c", CHILD.format(scheme=scheme, L=L)], env=env,
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-4000:]
    assert "assuming every input is mutated" not in child.stderr, child.stderr[-4000:]
    graph = json.loads(child.stdout.strip().splitlines()[-1])
    assert graph["custom_ops"] == []  # seen through: nothing left to call through the dispatcher
    assert [launch["written"] for launch in graph["launches"]] == writes * 2
    # one TTIR analysis per distinct launch of a block (kernel and constants), not one per
    # launch and tracing pass
    assert graph["analysed"] == len(writes)
