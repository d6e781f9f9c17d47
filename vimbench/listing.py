"""`vimbench list`: the suites, models, precisions, execution modes and modes vimbench knows."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("what", nargs="?", choices=("suites", "models", "precisions", "exec_modes", "modes", "all"),
                        default="all", help="what to list (default: all)")


def main(args) -> int:
    sections = ("suites", "models", "precisions", "exec_modes", "modes") if args.what == "all" else (args.what,)
    for n, section in enumerate(sections):
        if n:
            print()
        globals()[f"_print_{section}"]()
    return 0


def _table(title: str, rows: list[tuple[str, ...]]) -> None:
    print(title)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])


def _print_suites() -> None:
    from .suite import SuiteError, builtin_suite_names, load_suite

    rows = []
    for name in builtin_suite_names():
        try:
            suite = load_suite(name)
            rows.append((name, f"{len(suite.cells())} cells", suite.description))
        except SuiteError as exc:
            rows.append((name, "invalid", str(exc)))
    _table("suites (vimbench run --suite NAME, or a path to a .toml file):", rows)


def _print_models() -> None:
    from .models import get_model_spec, model_names

    rows = []
    for name in model_names():
        spec = get_model_spec(name)
        variants = ", ".join(v + ("*" if v == spec.default_variant else "") for v in spec.variants)
        rows.append((name, f"{spec.variant_kind}: {variants}", f"patch {spec.patch_size}", spec.description))
    rows.append(("timm:NAME", "variant: default*", "any size", "any timm model as a baseline (random init, "
                 "img_size set where the model takes it), e.g. timm:vit_small_patch16_224, timm:resnet101"))
    _table("models (* = default variant):", rows)


def _print_precisions() -> None:
    from .precision import PRECISIONS

    _table("precisions:", [(p.name, p.description) for p in PRECISIONS.values()])


def _print_exec_modes() -> None:
    from .exec_modes import COMPILE_MODES, EXEC_MODES

    descriptions = {"eager": "call the model as is",
                    "cuda_graph": "capture one forward into a CUDA graph, time its replays (CUDA only)",
                    "compile": "torch.compile; compile:MODE with MODE in " + ", ".join(COMPILE_MODES)}
    _table("execution modes:", [(m, descriptions.get(m, "")) for m in EXEC_MODES])


def _print_modes() -> None:
    from .modes import DESCRIPTIONS, TRAIN, TRAIN_EXEC_MODES, TRAIN_PRECISIONS

    limits = f" (exec mode {', '.join(TRAIN_EXEC_MODES)}; precisions {', '.join(TRAIN_PRECISIONS)})"
    rows = [(mode, text + (limits if mode == TRAIN else "")) for mode, text in DESCRIPTIONS.items()]
    _table("modes (suite key `modes`, --mode):", rows)
