"""Execution modes: how the timed forward is run, a sweep dimension recorded in each row.

    eager              call the function as is
    cuda_graph         capture one forward into a CUDA graph for a fixed input shape, replay it
    compile[:MODE]     torch.compile(fn, mode=MODE); MODE is one of COMPILE_MODES
                       ("compile" alone uses torch's default mode)
    compile:freeze     torch's default mode with inductor's freezing: the parameters are
                       constants of the compiled graph, so what a forward derives from them
                       alone (16-bit weight copies, Vim's A = -exp(A_log)) is folded once at
                       compile time, not recomputed by kernels every call; inference only
                       (what was folded does not follow later weight updates)

`prepare(fn, example_input, exec_mode)` returns `(run, setup_seconds)`: `run(x)` computes
`fn(x)` under no_grad (and autocast, if asked), and `setup_seconds` is the one-off cost
kept out of the timed samples: graph warm-up + capture, or compilation + first call.

Two properties of `cuda_graph` a caller must know: the example input becomes the graph's
static input buffer (`run.static_input`, not a copy: a cell holds one input, as in eager
mode, and its memory compares), `run(x)` copies x into it (skipped when x IS that buffer),
and it returns the graph's static output, which the next replay overwrites.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import torch

EXEC_MODES = ("eager", "cuda_graph", "compile")
FREEZE = "freeze"  # vimbench's name: not a torch.compile mode, the default one with freezing on
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs", FREEZE)
GRAPH_WARMUP_CALLS = 3


def parse_exec_mode(exec_mode: str) -> tuple[str, str | None]:
    """'compile:max-autotune' -> ('compile', 'max-autotune'); 'eager' -> ('eager', None)."""
    kind, _, option = exec_mode.partition(":")
    if kind not in EXEC_MODES or (option and kind != "compile"):
        raise ValueError(f"exec_mode {exec_mode!r} is not one of {', '.join(EXEC_MODES)} "
                         f"(compile takes a mode: compile:{'|'.join(COMPILE_MODES)})")
    if kind == "compile":
        option = option or "default"
        if option not in COMPILE_MODES:
            raise ValueError(f"exec_mode {exec_mode!r}: compile mode {option!r} is not one of {', '.join(COMPILE_MODES)}")
    return kind, option or None


def _context(device_type: str, autocast_dtype: torch.dtype | None):
    """no_grad, plus autocast when asked.  The autocast weight-cast cache is off: a cached
    cast made during graph capture would be freed while the graph still points at it."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.no_grad())
    if autocast_dtype is not None:
        stack.enter_context(torch.autocast(device_type=device_type, dtype=autocast_dtype, cache_enabled=False))
    return stack


def _sync(x: torch.Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def prepare(
    fn: Callable[[torch.Tensor], object],
    example_input: torch.Tensor,
    exec_mode: str = "eager",
    *,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[Callable[[torch.Tensor], object], float]:
    """Make `fn` (a module or e.g. `model.forward_features`) runnable in `exec_mode`.

    Returns `(run, setup_seconds)`.  The example input fixes the shape for cuda_graph
    and is the input the compile step is traced with.
    """
    kind, option = parse_exec_mode(exec_mode)
    device_type = example_input.device.type
    if kind == "eager":
        def run(x):
            with _context(device_type, autocast_dtype):
                return fn(x)
        return run, 0.0
    if kind == "compile":
        return _prepare_compiled(fn, example_input, option, device_type, autocast_dtype)
    return _prepare_cuda_graph(fn, example_input, autocast_dtype)


def _prepare_compiled(fn, example_input, mode, device_type, autocast_dtype):
    if mode == FREEZE:  # torch.compile takes a mode or options, not both
        compiled = torch.compile(fn, options={"freezing": True})
    else:
        compiled = torch.compile(fn, mode=None if mode == "default" else mode)

    def run(x):
        with _context(device_type, autocast_dtype):
            return compiled(x)
    _sync(example_input)
    start = time.perf_counter()
    run(example_input)  # compilation happens here
    _sync(example_input)
    return run, time.perf_counter() - start


def _prepare_cuda_graph(fn, example_input, autocast_dtype):
    if not example_input.is_cuda:
        raise ValueError(f"exec_mode 'cuda_graph' needs a CUDA input; got a tensor on {example_input.device}")
    static_input = example_input
    _sync(example_input)
    start = time.perf_counter()
    # Warm up on a side stream (lazy init, Triton JIT, cuBLAS workspaces happen here,
    # not in the capture), as torch.cuda.graphs' documentation prescribes.
    side = torch.cuda.Stream(device=example_input.device)
    side.wait_stream(torch.cuda.current_stream(example_input.device))
    with torch.cuda.stream(side), _context("cuda", autocast_dtype):
        for _ in range(GRAPH_WARMUP_CALLS):
            fn(static_input)
    torch.cuda.current_stream(example_input.device).wait_stream(side)
    _sync(example_input)
    # Replays allocate nothing: the forward's activations live in the graph's private pool,
    # allocated while capturing.  The capture's peak is therefore the graph's working set,
    # which a peak taken over replays alone would miss (see runner's memory pass).
    torch.cuda.reset_peak_memory_stats(example_input.device)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), _context("cuda", autocast_dtype):
        static_output = fn(static_input)
    _sync(example_input)
    capture_peak_allocated_bytes = int(torch.cuda.max_memory_allocated(example_input.device))
    setup = time.perf_counter() - start

    def run(x):
        if x is not static_input:
            if x.shape != static_input.shape or x.dtype != static_input.dtype:
                raise ValueError(f"cuda_graph was captured for input {tuple(static_input.shape)} {static_input.dtype}; "
                                 f"got {tuple(x.shape)} {x.dtype}")
            static_input.copy_(x)
        graph.replay()
        return static_output
    run.static_input = static_input
    run.graph = graph
    run.capture_peak_allocated_bytes = capture_peak_allocated_bytes
    return run, setup
