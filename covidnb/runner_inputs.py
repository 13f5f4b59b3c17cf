"""What a batch checks before anything runs: the notebook, its parameters, the kernel, the grid.

:func:`require_parameters_cell` refuses a notebook without a cell tagged ``parameters``;
:func:`notebook_parameters` lists the names that cell assigns and :func:`check_parameters`
refuses a parameter it does not define; :func:`require_kernel` refuses an unknown Jupyter
kernel; :func:`expand_grid` / :func:`load_grid` turn a grid (a mapping of lists, crossed, or a
list of mappings) into parameter sets, and :func:`param_slug` names one set. Every refusal is a
:class:`BatchInputError` naming the file or the parameter.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


class BatchInputError(ValueError):
    """A notebook, grid file or option the batch cannot run with."""


def require_parameters_cell(notebook: str | os.PathLike) -> None:
    """Raise :class:`BatchInputError` naming ``notebook`` unless a cell is tagged ``parameters``."""
    import nbformat

    path = Path(notebook)
    if not path.exists():
        raise BatchInputError(f"{path}: notebook not found")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several types for a broken file
        raise BatchInputError(f"{path}: not a readable notebook ({exc})") from exc
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise BatchInputError(
            f"{path}: no cell is tagged 'parameters'; tag the cell holding the defaults "
            "(papermill would otherwise inject at the top and the defaults would win)"
        )


def notebook_parameters(notebook: str | os.PathLike) -> list[str]:
    """The names the notebook's ``parameters`` cell assigns (top-level ``name = …`` and
    ``name: type = …``), in order; raises :class:`BatchInputError` when it has no such cell or
    the cell is not valid Python."""
    import ast

    import nbformat

    require_parameters_cell(notebook)
    nb = nbformat.read(Path(notebook), as_version=4)
    names: list[str] = []
    for cell in nb.cells:
        if "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError as exc:
            raise BatchInputError(f"{notebook}: the parameters cell is not valid Python ({exc})") from exc
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else [])
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name) and n.id not in names:
                        names.append(n.id)
    return names


def check_parameters(notebook: str | os.PathLike, param_sets: Sequence[dict]) -> None:
    """Raise :class:`BatchInputError` naming every parameter of ``param_sets`` that the
    notebook's ``parameters`` cell does not define (a misspelt name would be injected, ignored
    by the notebook, and the run recorded as if it had applied)."""
    known = notebook_parameters(notebook)
    unknown = sorted({k for s in param_sets for k in s if k not in known})
    if unknown:
        raise BatchInputError(
            f"{notebook}: unknown parameter(s) {', '.join(repr(u) for u in unknown)}; its "
            f"parameters cell defines: {', '.join(known) or '(nothing)'}"
        )


def require_kernel(kernel: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        ksm.get_kernel_spec(kernel)
    except NoSuchKernel:
        known = ", ".join(sorted(ksm.find_kernel_specs())) or "(none)"
        raise BatchInputError(
            f"no Jupyter kernel named {kernel!r}; installed: {known} "
            f"(install one: python -m ipykernel install --sys-prefix --name {kernel})"
        ) from None


def expand_grid(spec: Any, where: str = "grid") -> list[dict]:
    """Parameter sets from a grid: a mapping whose list values are crossed (scalars are fixed), or
    a list of mappings taken as they are."""
    if isinstance(spec, dict):
        keys = list(spec)
        for k in keys:
            if not isinstance(k, str):
                raise BatchInputError(f"{where}: parameter names must be strings, got {k!r}")
        values = [v if isinstance(v, list) else [v] for v in spec.values()]
        if any(len(v) == 0 for v in values):
            empty = [k for k, v in zip(keys, values) if not v]
            raise BatchInputError(f"{where}: empty list for {empty}")
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)]
    if isinstance(spec, list):
        bad = [i for i, s in enumerate(spec) if not isinstance(s, dict)]
        if bad:
            raise BatchInputError(f"{where}: entries {bad} are not mappings of parameter → value")
        return [dict(s) for s in spec]
    raise BatchInputError(
        f"{where}: expected a mapping of lists or a list of mappings, got {type(spec).__name__}"
    )


def load_grid(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BatchInputError(f"{path}: grid file not found") from None
    except yaml.YAMLError as exc:
        raise BatchInputError(f"{path}: not valid YAML ({exc})") from exc
    return expand_grid(spec, str(path))


def param_slug(params: dict) -> str:
    """A readable, file-safe name for a parameter set, unique through a short hash."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[
        :8
    ]
    text = "_".join(f"{k}-{v}" for k, v in sorted(params.items())) or "default"
    text = re.sub(r"[^A-Za-z0-9._=-]+", "", text.replace(" ", ""))[:60]
    return f"{text}-{digest}"
