"""Suites: TOML files that name a sweep, loaded and validated into cells.

A suite is found by name among the built-in suites (the top-level `suites/*.toml` of a checkout,
shipped inside an installed wheel as `vimbench/suites/`; see `suites_dir`) or given as a path.
Every mistake is one `SuiteError` naming the file, the key and the allowed values (the
`run` command turns it into exit code 2).  The format:

    description = "what this suite is for"
    device = "auto"                     # auto (cuda if present, else cpu) | cuda | cpu
    precisions = ["amp-fp16"]           # defaults for every [[models]] entry ...
    resolutions = [512, 1024]           # ... image side in pixels, a multiple of the patch size
    batches = [128]
    exec_modes = ["eager"]
    modes = ["infer"]                   # infer (forward only) | train (a training step; modes.py: train takes
                                        # exec mode eager, precisions fp32/amp-fp16/amp-bf16)
    repeats = 1                         # measure every cell this many times (run-to-run spread)
    estimate_oom_batches = [8, 16, 32]  # when a cell OOMs, probe these smaller batches (rows
                                        # with purpose "oom_estimate", never mixed with measured ones)
    cell_timeout_s = 900                # a cell still running after this is killed: error row
    isolation = "process"               # process (a fresh spawned process per cell) | inline
    plugins = []                        # modules imported before validation and in every
                                        # worker, e.g. to register extra models

    [timing]
    warmup_min_iters = 5                # warm up until both this count ...
    warmup_min_s = 1.0                  # ... and this time are met
    iters = 30                          # timed iterations (at least)
    min_time_s = 0.0                    # and at least this long

    [[models]]
    name = "deit_tiny"
    variants = ["eager", "sdpa"]        # default: the model's default variant
    # resolutions / batches / precisions / exec_modes / modes here override the defaults above

    [[models]]
    name = "timm:resnet101"             # any timm model (random init, forward_features timed; variant
                                        # "default"); sized to each resolution where it takes img_size
"""

from __future__ import annotations

import importlib
import itertools
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from .modes import INFER, MODES, TRAIN, train_refusal
from .precision import PRECISIONS
from .timing import TimingSettings

DEVICES = ("auto", "cuda", "cpu")
ISOLATIONS = ("process", "inline")
PURPOSE_MEASURE = "measure"
PURPOSE_OOM_ESTIMATE = "oom_estimate"

_TOP_KEYS = {"name", "description", "device", "precisions", "resolutions", "batches", "exec_modes", "modes",
             "repeats", "estimate_oom_batches", "cell_timeout_s", "isolation", "plugins", "timing", "models"}
_TIMING_KEYS = {f for f in TimingSettings.__dataclass_fields__}
_ENTRY_KEYS = {"name", "variants", "resolutions", "batches", "precisions", "exec_modes", "modes"}
# Filter keys accepted by `expand_cells(only=...)` and `vimbench run --only KEY=VALUE`.
CELL_KEYS = ("model", "variant", "resolution", "batch", "precision", "exec_mode", "mode")


class SuiteError(ValueError):
    """A suite that cannot be run; the message names the file, the key and what is allowed."""

    def __init__(self, file: str | Path, key: str, problem: str, allowed: str | None = None):
        self.file, self.key, self.problem, self.allowed = str(file), key, problem, allowed
        message = f"{file}: {key}: {problem}"
        if allowed:
            message += f" (allowed: {allowed})"
        super().__init__(message)


@dataclass(frozen=True)
class Cell:
    """One measurement: everything that changes the number, and nothing else."""
    model: str
    variant: str
    resolution: int
    batch: int
    precision: str
    exec_mode: str = "eager"
    mode: str = INFER
    purpose: str = PURPOSE_MEASURE
    repeat: int = 0

    @property
    def cell_id(self) -> str:
        parts = [self.model, self.variant, f"r{self.resolution}", f"b{self.batch}", self.precision,
                 self.exec_mode]
        if self.mode != INFER:  # inference ids stay as they were, so older runs resume
            parts.append(self.mode)
        if self.purpose != PURPOSE_MEASURE:
            parts.append(self.purpose)
        if self.repeat:
            parts.append(f"rep{self.repeat}")
        return "|".join(parts)

    def label(self) -> str:
        label = f"{self.model} {self.variant} {self.resolution}px b{self.batch} {self.precision}"
        return label + (f" {self.mode}" if self.mode != INFER else "")

    def value(self, key: str) -> str:
        return str(getattr(self, key))


@dataclass(frozen=True)
class ModelEntry:
    model: str
    variants: tuple[str, ...]
    resolutions: tuple[int, ...]
    batches: tuple[int, ...]
    precisions: tuple[str, ...]
    exec_modes: tuple[str, ...]
    modes: tuple[str, ...] = (INFER,)


@dataclass
class Suite:
    name: str
    path: Path
    source: str                      # the file's text, copied into each run directory
    description: str = ""
    device: str = "auto"
    repeats: int = 1
    estimate_oom_batches: tuple[int, ...] = ()
    cell_timeout_s: float = 900.0
    isolation: str = "process"
    plugins: tuple[str, ...] = ()
    timing: TimingSettings = field(default_factory=TimingSettings)
    entries: list[ModelEntry] = field(default_factory=list)

    def cells(self, only: dict[str, set[str]] | None = None) -> list[Cell]:
        return expand_cells(self, only)


def suites_dir():
    """The folder of the built-in suites.

    In a checkout (an editable install, or the repository on PYTHONPATH) that is `suites/`
    beside the package, in the repository root; an installed wheel carries the same files
    inside the package as `vimbench/suites/` (setup.py maps the folder there).
    """
    package = Path(__file__).resolve().parent
    checkout = package.parent / "suites"
    if checkout.is_dir() and (package.parent / "pyproject.toml").is_file():
        return checkout
    return resources.files("vimbench") / "suites"


def builtin_suite_names() -> list[str]:
    folder = suites_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def find_suite(name_or_path: str) -> Path:
    """A path to an existing file, or the name of a built-in suite."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise SuiteError(path, "--suite", "no such suite file", "a built-in suite name: " + ", ".join(builtin_suite_names()))
        return path
    builtin = suites_dir() / f"{name_or_path}.toml"
    if not builtin.is_file():
        raise SuiteError(name_or_path, "--suite", "no such suite", ", ".join(builtin_suite_names()) + " or a path to a .toml file")
    return Path(str(builtin))


def import_plugins(plugins: tuple[str, ...] | list[str]) -> None:
    for module in plugins:
        importlib.import_module(module)


def load_suite(name_or_path: str | Path, only_models: set[str] | None = None, name: str | None = None) -> Suite:
    """Load and validate a suite.

    `only_models`: check only these models against the registry (entries for other models
    are still checked for form); a sweep restricted to DeiT can then run while another
    model of the suite is not importable on this machine.
    """
    path = find_suite(str(name_or_path))
    return load_suite_text(path.read_text(encoding="utf-8"), path, only_models, name)


def load_suite_text(source: str, path: str | Path, only_models: set[str] | None = None, name: str | None = None) -> Suite:
    """Validate a suite given as TOML text; `path` is where it came from, named in errors."""
    path = Path(path)
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(path, "(syntax)", f"not valid TOML: {exc}") from None
    return _validate(data, path, source, only_models, name)


def _validate(data: dict[str, Any], path: Path, source: str, only_models: set[str] | None,
              name: str | None) -> Suite:
    _no_unknown_keys(data, _TOP_KEYS, path, "")
    suite = Suite(name=name or _string(data, "name", path, "", default=path.stem), path=path, source=source)
    suite.description = _string(data, "description", path, "", default="")
    suite.device = _choice(data, "device", DEVICES, path, "", default="auto")
    suite.isolation = _choice(data, "isolation", ISOLATIONS, path, "", default="process")
    suite.repeats = _int(data, "repeats", path, "", default=1, minimum=1)
    suite.cell_timeout_s = float(_number(data, "cell_timeout_s", path, "", default=900.0, minimum=1.0))
    suite.estimate_oom_batches = tuple(_int_list(data, "estimate_oom_batches", path, "", default=[], minimum=1))
    suite.plugins = tuple(_string_list(data, "plugins", path, "", default=[]))
    for module in suite.plugins:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise SuiteError(path, "plugins", f"cannot import {module!r}: {exc}", "importable module names") from None

    timing = data.get("timing", {})
    if not isinstance(timing, dict):
        raise SuiteError(path, "timing", "must be a table", ", ".join(sorted(_TIMING_KEYS)))
    _no_unknown_keys(timing, _TIMING_KEYS, path, "timing.")
    suite.timing = TimingSettings(
        warmup_min_iters=_int(timing, "warmup_min_iters", path, "timing.", default=5, minimum=0),
        warmup_min_s=float(_number(timing, "warmup_min_s", path, "timing.", default=1.0, minimum=0.0)),
        iters=_int(timing, "iters", path, "timing.", default=30, minimum=1),
        min_time_s=float(_number(timing, "min_time_s", path, "timing.", default=0.0, minimum=0.0)),
    )

    defaults = {
        "resolutions": _int_list(data, "resolutions", path, "", default=None, minimum=1),
        "batches": _int_list(data, "batches", path, "", default=None, minimum=1),
        "precisions": _choice_list(data, "precisions", tuple(PRECISIONS), path, "", default=None),
        "exec_modes": _exec_mode_list(data, path, "", default=["eager"]),
        "modes": _choice_list(data, "modes", MODES, path, "", default=[INFER]),
    }
    models = data.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, dict) for m in models):
        raise SuiteError(path, "models", "needs at least one [[models]] table", "tables with keys " + ", ".join(sorted(_ENTRY_KEYS)))

    from .models import model_names  # imported here: registers the built-in models (torch, timm)

    for i, entry in enumerate(models):
        where = f"models[{i}]."
        _no_unknown_keys(entry, _ENTRY_KEYS, path, where)
        model = _string(entry, "name", path, where, default=None)
        if model is None:
            raise SuiteError(path, where + "name", "missing", ", ".join(model_names()))
        values = {}
        for key in ("resolutions", "batches"):
            values[key] = _int_list(entry, key, path, where, default=defaults[key], minimum=1)
        values["precisions"] = _choice_list(entry, "precisions", tuple(PRECISIONS), path, where, default=defaults["precisions"])
        values["exec_modes"] = _exec_mode_list(entry, path, where, default=defaults["exec_modes"])
        values["modes"] = _choice_list(entry, "modes", MODES, path, where, default=defaults["modes"])
        for key, value in values.items():
            if not value:
                raise SuiteError(path, where + key, "not given here nor at the top level", "a non-empty list")
        variants = _string_list(entry, "variants", path, where, default=None)
        if only_models is None or model in only_models:
            resolutions_key = where + "resolutions" if "resolutions" in entry else "resolutions"
            variants = _check_against_registry(path, where, model, variants, values["resolutions"], resolutions_key)
            if TRAIN in values["modes"]:
                _check_train(path, where, entry, model, variants, values)
        elif variants is None:
            variants = []
        suite.entries.append(ModelEntry(model, tuple(variants), tuple(values["resolutions"]), tuple(values["batches"]),
                                        tuple(values["precisions"]), tuple(values["exec_modes"]),
                                        tuple(values["modes"])))

    # One model may appear in several entries (e.g. other resolutions or exec modes), but a
    # cell only once: a duplicate would be measured twice and one row would shadow the other.
    seen: dict[str, int] = {}
    for i, entry in enumerate(suite.entries):
        for cell in _entry_cells(entry):
            if cell.cell_id in seen:
                first = seen[cell.cell_id]
                where = "repeats a value of its own lists" if first == i else f"is also in models[{first}]"
                raise SuiteError(path, f"models[{i}]", f"cell {cell.cell_id} {where}", "each cell once")
            seen[cell.cell_id] = i
    return suite


def _check_against_registry(path, where, model, variants, resolutions, resolutions_key) -> list[str]:
    from .models import get_model_spec, model_names

    try:
        spec = get_model_spec(model)
    except KeyError as exc:
        from .models import IMPORT_ERRORS
        from .models.timm_models import NAME_HINT, is_timm_name

        if is_timm_name(model):
            raise SuiteError(path, where + "name", exc.args[0], NAME_HINT) from None

        broken = "".join(f"; {module} failed to import here: {error}" for module, error in IMPORT_ERRORS.items())
        raise SuiteError(path, where + "name", f"unknown model {model!r}{broken}", ", ".join(model_names())) from None
    variants = variants if variants is not None else [spec.default_variant]
    for variant in variants:
        if variant not in spec.variants:
            raise SuiteError(path, where + "variants", f"unknown {spec.variant_kind} {variant!r} for {model}",
                             ", ".join(spec.variants))
    for resolution in resolutions:
        if spec.patch_size is not None and resolution % spec.patch_size:
            lower = resolution - resolution % spec.patch_size
            raise SuiteError(path, resolutions_key,
                             f"{resolution} is not a multiple of {model}'s patch size {spec.patch_size}",
                             f"multiples of {spec.patch_size}, e.g. {lower} or {lower + spec.patch_size}")
    return list(variants)


def _check_train(path, where, entry, model, variants, values) -> None:
    """The first train cell of an entry that cannot be measured at all (modes.train_refusal) is a
    SuiteError naming the key at fault: the entry's own, or the top-level one it inherits."""
    from .models import get_model_spec

    spec = get_model_spec(model)
    for variant, resolution, precision, exec_mode in itertools.product(
            variants, values["resolutions"], values["precisions"], values["exec_modes"]):
        refusal = train_refusal(spec, variant, resolution, precision, exec_mode)
        if refusal is not None:
            axis, problem, allowed = refusal
            key = where + axis if axis in entry else axis
            raise SuiteError(path, key, f"{problem} ({where.rstrip('.')}, {model}, has mode train)", allowed)


def _entry_cells(entry: ModelEntry) -> list[Cell]:
    return [Cell(entry.model, v, r, b, p, e, m)
            for v, r, b, p, e, m in itertools.product(entry.variants, entry.resolutions, entry.batches,
                                                      entry.precisions, entry.exec_modes, entry.modes)]


def parse_only(items: list[str] | None) -> dict[str, set[str]]:
    """`["model=deit_tiny", "resolution=512,1024"]` -> {"model": {"deit_tiny"}, "resolution": {...}}."""
    only: dict[str, set[str]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in CELL_KEYS or not value.strip():
            raise SuiteError("(command line)", f"--only {item}", "expected KEY=VALUE[,VALUE...]",
                             "keys " + ", ".join(CELL_KEYS))
        only.setdefault(key, set()).update(v.strip() for v in value.split(",") if v.strip())
    return only


def expand_cells(suite: Suite, only: dict[str, set[str]] | None = None) -> list[Cell]:
    """The suite's measured cells in file order, after `only`.

    Repeats go round the whole sweep (all cells once, then all again), so a slow drift of the
    machine spreads over every cell instead of biasing the ones measured last.
    """
    only = only or {}
    cells = [c for entry in suite.entries for c in _entry_cells(entry)
             if all(c.value(key) in values for key, values in only.items())]
    if suite.repeats > 1:
        cells = [replace(c, repeat=r) for r in range(suite.repeats) for c in cells]
    return cells


def oom_probe_cells(cell: Cell, suite: Suite) -> list[Cell]:
    """Smaller-batch probes of an OOM cell, for estimating what it would have needed."""
    return [replace(cell, batch=b, purpose=PURPOSE_OOM_ESTIMATE)
            for b in sorted(suite.estimate_oom_batches) if b < cell.batch]


# --- small typed getters: each error names the key and what it accepts ---

def _no_unknown_keys(table: dict, allowed: set[str], path, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise SuiteError(path, where + key, "unknown key", ", ".join(sorted(allowed)))


def _string(table, key, path, where, default):
    value = table.get(key, default)
    if value is not None and not isinstance(value, str):
        raise SuiteError(path, where + key, f"expected a string, got {value!r}", "a string")
    return value


def _choice(table, key, choices, path, where, default):
    value = table.get(key, default)
    if value not in choices:
        raise SuiteError(path, where + key, f"unknown value {value!r}", ", ".join(choices))
    return value


def _int(table, key, path, where, default, minimum):
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SuiteError(path, where + key, f"expected an integer >= {minimum}, got {value!r}", f"integers >= {minimum}")
    return value


def _number(table, key, path, where, default, minimum):
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise SuiteError(path, where + key, f"expected a number >= {minimum}, got {value!r}", f"numbers >= {minimum}")
    return value


def _int_list(table, key, path, where, default, minimum):
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, list):
        raise SuiteError(path, where + key, f"expected a list of integers, got {value!r}", f"integers >= {minimum}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
            raise SuiteError(path, where + key, f"{item!r} is not an integer >= {minimum}", f"integers >= {minimum}")
    return list(value)


def _string_list(table, key, path, where, default):
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SuiteError(path, where + key, f"expected a list of strings, got {value!r}", "a list of strings")
    return list(value)


def _choice_list(table, key, choices, path, where, default):
    value = _string_list(table, key, path, where, default)
    for item in value or []:
        if item not in choices:
            raise SuiteError(path, where + key, f"unknown value {item!r}", ", ".join(choices))
    return value


def _exec_mode_list(table, path, where, default):
    from .exec_modes import COMPILE_MODES, EXEC_MODES, parse_exec_mode

    value = _string_list(table, "exec_modes", path, where, default)
    for item in value or []:
        try:
            parse_exec_mode(item)
        except ValueError:
            raise SuiteError(path, where + "exec_modes", f"unknown value {item!r}",
                             ", ".join(EXEC_MODES) + ", compile:" + "|".join(COMPILE_MODES)) from None
    return value
