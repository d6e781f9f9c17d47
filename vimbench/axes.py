"""Sweep axes from the command line: an ad-hoc suite without a file, or a suite's axes replaced.

    vimbench run --model vim_tiny:triton-fused --model deit_tiny:sdpa --resolution 1536 --batch 64 \\
                 --precision amp-bf16 [--exec-mode eager] [--mode train]
    vimbench run --suite highres --resolution 2048          # highres, every entry at 2048 px

Without `--suite`, `--model` (repeatable, NAME or NAME:VARIANT; NAME may be `timm:<name>`),
`--resolution` and `--batch` make a suite named "adhoc"; `--precision` defaults to amp-fp16
where CUDA is visible and fp32 elsewhere, `--exec-mode` to eager, `--mode` to infer, the timing to
TimingSettings' defaults.  With `--suite`, each axis given replaces that axis in every entry
of the suite (the models axis: the entries become one per `--model`, each over the suite's
values of the axes not given).  Either way the result is written out as TOML, checked like any
suite file, and copied into the run directory, so `--resume` and the report see what ran.

Every flag value is checked here first; a mistake names the flag, the value and what is allowed.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path
from typing import Any

from .suite import SuiteError

ADHOC_NAME = "adhoc"
_DEFAULTS = {"exec_modes": ["eager"], "modes": ["infer"]}  # a suite's value of these axes when it names none
COMMAND_LINE = "(command line)"
# flag -> the suite key of that axis
AXIS_FLAGS = {"--resolution": "resolutions", "--batch": "batches", "--precision": "precisions",
              "--exec-mode": "exec_modes", "--mode": "modes"}


def given_axes(args) -> dict[str, list[str]]:
    """The axis flags given on the command line: {"--model": [...], "--resolution": [...], ...}
    (comma-separated values split; an axis not given is absent)."""
    values = {"--model": args.model, "--resolution": args.resolution, "--batch": args.batch,
              "--precision": args.precision, "--exec-mode": args.exec_mode, "--mode": args.mode}
    out = {}
    for flag, items in values.items():
        if items:
            out[flag] = [v.strip() for item in items for v in item.split(",") if v.strip()]
    return out


def parse_model(value: str) -> tuple[str, str | None]:
    """'vim_tiny:triton-fused' -> ('vim_tiny', 'triton-fused'); 'timm:resnet101' -> ('timm:resnet101', None);
    'timm:resnet101:default' -> ('timm:resnet101', 'default')."""
    from .models.timm_models import TIMM_PREFIX

    prefix = TIMM_PREFIX if value.startswith(TIMM_PREFIX) else ""
    name, _, variant = value[len(prefix):].partition(":")
    return prefix + name, variant or None


def check_axes(axes: dict[str, list[str]]) -> dict[str, list]:
    """Typed axis values, keyed by suite key ("models" -> [(name, variant)], "resolutions" -> [int] ...);
    SuiteError naming the flag, the value and the allowed values for the first bad one."""
    from .exec_modes import COMPILE_MODES, EXEC_MODES, parse_exec_mode
    from .models import get_model_spec, model_names
    from .models.timm_models import NAME_HINT, is_timm_name
    from .modes import MODES
    from .precision import PRECISIONS

    out: dict[str, list] = {}
    specs = {}
    for value in axes.get("--model", []):
        name, variant = parse_model(value)
        try:
            spec = get_model_spec(name)
        except KeyError as exc:
            if is_timm_name(name):
                raise SuiteError(COMMAND_LINE, f"--model {value}", str(exc.args[0]), NAME_HINT) from None
            raise SuiteError(COMMAND_LINE, f"--model {value}", f"unknown model {name!r}",
                             ", ".join(model_names()) + ", or timm:NAME (any timm model)") from None
        if variant is not None and variant not in spec.variants:
            raise SuiteError(COMMAND_LINE, f"--model {value}", f"unknown {spec.variant_kind} {variant!r} for {name}",
                             ", ".join(f"{name}:{v}" for v in spec.variants))
        specs[name] = spec
        out.setdefault("models", []).append((name, variant))
    for flag in ("--resolution", "--batch"):
        for value in axes.get(flag, []):
            if not value.isdigit() or int(value) < 1:
                raise SuiteError(COMMAND_LINE, f"{flag} {value}", "not a positive integer", "integers >= 1")
            out.setdefault(AXIS_FLAGS[flag], []).append(int(value))
    for value in axes.get("--precision", []):
        if value not in PRECISIONS:
            raise SuiteError(COMMAND_LINE, f"--precision {value}", "unknown precision", ", ".join(PRECISIONS))
        out.setdefault("precisions", []).append(value)
    for value in axes.get("--exec-mode", []):
        try:
            parse_exec_mode(value)
        except ValueError:
            raise SuiteError(COMMAND_LINE, f"--exec-mode {value}", "unknown execution mode",
                             ", ".join(EXEC_MODES) + ", compile:" + "|".join(COMPILE_MODES)) from None
        out.setdefault("exec_modes", []).append(value)
    for value in axes.get("--mode", []):
        if value not in MODES:
            raise SuiteError(COMMAND_LINE, f"--mode {value}", "unknown mode", ", ".join(MODES))
        out.setdefault("modes", []).append(value)
    for resolution in out.get("resolutions", []):
        for name, spec in specs.items():
            if spec.patch_size is not None and resolution % spec.patch_size:
                lower = resolution - resolution % spec.patch_size
                raise SuiteError(COMMAND_LINE, f"--resolution {resolution}",
                                 f"not a multiple of {name}'s patch size {spec.patch_size}",
                                 f"multiples of {spec.patch_size}, e.g. {lower} or {lower + spec.patch_size}")
    return {key: list(dict.fromkeys(values)) for key, values in out.items()}


def adhoc_suite_text(axes: dict[str, list], command: str, cuda_visible: bool) -> str:
    """The TOML of an ad-hoc suite from checked axes (check_axes); SuiteError when a needed axis is missing."""
    missing = [flag for flag, key in (("--model", "models"), ("--resolution", "resolutions"), ("--batch", "batches"))
               if key not in axes]
    if missing:
        raise SuiteError(COMMAND_LINE, ", ".join(missing), "an ad-hoc run (no --suite) needs --model, --resolution "
                         "and --batch", "e.g. --model vim_tiny:triton-fused --resolution 1024 --batch 64, or --suite NAME")
    data: dict[str, Any] = {
        "name": ADHOC_NAME,
        "description": f"ad-hoc: {command}",
        "device": "auto",
        "precisions": axes.get("precisions") or (["amp-fp16"] if cuda_visible else ["fp32"]),
        "resolutions": axes["resolutions"],
        "batches": axes["batches"],
        "exec_modes": axes.get("exec_modes") or ["eager"],
        **({"modes": axes["modes"]} if "modes" in axes else {}),  # left out: infer, the suite default
        "models": _model_entries(axes["models"]),
    }
    return _header(command, None) + dump_toml(data)


def override_suite_text(path: Path, source: str, axes: dict[str, list], command: str) -> str:
    """The suite at `path` with the given axes replaced in every entry, as TOML."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(path, "(syntax)", f"not valid TOML: {exc}") from None
    entries = data.get("models") if isinstance(data.get("models"), list) else []
    keys = ("resolutions", "batches", "precisions", "exec_modes", "modes")
    if "models" in axes:
        # New entries, one per --model, over the suite's values of every axis not given: each
        # entry's own, else the top level's, else the suite default (an entry of mode train
        # beside entries without `modes` must not turn the new entries into train only).
        for key in keys:
            if key not in axes:
                seen = [v for table in entries for v in (table.get(key) or data.get(key) or _DEFAULTS.get(key, []))]
                seen = seen or list(data.get(key) or [])
                if seen:
                    data[key] = list(dict.fromkeys(seen))
        data["models"] = _model_entries(axes["models"])
    for key in keys:
        if key in axes:
            data[key] = axes[key]
            for entry in data["models"]:
                entry.pop(key, None)
    data.setdefault("name", path.stem)
    distinct = _distinct_entries(data)
    if distinct is not None:
        data["models"] = distinct
    return _header(command, path) + dump_toml(data)


def _distinct_entries(data: dict) -> list[dict] | None:
    """Entries that name each cell once, where replacing an axis made two entries name the same cell
    (e.g. one at 224 px, one at 1248 px, both now at 2048 px): one entry per model, variant,
    exec mode, mode, precision and batch, its resolutions in order.  None when no cell repeats."""
    from .models import get_model_spec

    def axis(entry, key, default=None):
        return entry.get(key, data.get(key, default)) or []

    groups: dict[tuple, list[int]] = {}
    seen, repeated = set(), False
    for entry in data["models"]:
        try:
            variants = entry.get("variants") or [get_model_spec(entry["name"]).default_variant]
        except (KeyError, TypeError):
            return None  # left to the suite check, which names the problem
        for variant, exec_mode, mode, precision, batch, resolution in itertools.product(
                variants, axis(entry, "exec_modes", ["eager"]), axis(entry, "modes", ["infer"]),
                axis(entry, "precisions"), axis(entry, "batches"), axis(entry, "resolutions")):
            cell = (entry["name"], variant, resolution, batch, precision, exec_mode, mode)
            if cell in seen:
                repeated = True
                continue
            seen.add(cell)
            groups.setdefault((entry["name"], variant, exec_mode, mode, precision, batch), []).append(resolution)
    if not repeated:
        return None
    return [{"name": name, "variants": [variant], "resolutions": resolutions, "batches": [batch],
             "precisions": [precision], "exec_modes": [exec_mode], "modes": [mode]}
            for (name, variant, exec_mode, mode, precision, batch), resolutions in groups.items()]


def _model_entries(models: list[tuple[str, str | None]]) -> list[dict]:
    return [{"name": name, **({"variants": [variant]} if variant else {})} for name, variant in models]


def _header(command: str, base: Path | None) -> str:
    origin = f"suite {base} with axes replaced" if base else "no suite file (an ad-hoc run)"
    return f"# Written by `{command}`: {origin}.\n"


# --- a TOML writer for the suite format (strings, numbers, booleans, lists, tables, [[models]]) ---

def dump_toml(data: dict[str, Any]) -> str:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_table_list(v)}
    lines = [f"{key} = {_value(value)}" for key, value in scalars.items()]
    for key, value in data.items():
        if isinstance(value, dict):
            lines += ["", f"[{key}]", *(f"{k} = {_value(v)}" for k, v in value.items())]
        elif _is_table_list(value):
            for table in value:
                lines += ["", f"[[{key}]]", *(f"{k} = {_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def _is_table_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML here")
