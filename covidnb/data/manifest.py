"""Dataset manifests: one YAML file per dataset in ``data_manifests/``.

A manifest says what a dataset is (title, citation, licence, homepage, chapters that use it),
how to get it (``sources`` with sha256 where truly known — a source without one says why in
``unchecked``, and an archive may name a ``contents`` list of its files' sha256 — or an ``access``
mode with instructions), where to look for it (``dirnames`` under each data root), what a complete copy
holds (``layout``, ``splits`` with class counts per split, ``variants`` such as COVIDx v5), how to
read it (``loader``) and which partial copies are expected (``staged_subsets``, e.g. the subsets
in ``../shared/data``), so that verification can tell a declared subset from a damaged copy.

The schema is checked with :mod:`jsonschema`; :func:`validate_manifest` adds the checks a schema
cannot express (class names in split counts, sources when ``access`` is ``download``) and every
error names the YAML file and the field.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from covidnb.paths import REPO_ROOT

MANIFEST_DIR = REPO_ROOT / "data_manifests"

CHAPTERS = ("dsn_saal", "dual_sampling", "deepcxray", "dresunet", "pepx_resnet")
MODALITIES = ("ct-slice", "cxr", "ct-volume")
TASKS = ("binary", "multiclass", "multilabel", "severity", "segmentation")
ACCESS = ("download", "by-request", "needs-account", "manual")
LOADER_KINDS = (
    "ct_slices",
    "cxr_metadata",
    "covidx",
    "coronahack",
    "rsna",
    "nih",
    "volumes",
    "mosmed",
    "chexnet_lists",
    "kermany",
    "cxr3_assembled",
)
ARCHIVE_FORMATS = ("zip", "tar", "tar.gz", "tgz", "tar.bz2", "file")

_COUNTS = {
    "type": "object",
    "description": "split name -> {class name or 'total': expected count}",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": {"type": "integer", "minimum": 0},
    },
}


def _variants(properties: dict[str, Any]) -> dict[str, Any]:
    """Named variants of a dataset (e.g. COVIDx v3 / v5), each overriding only ``properties``."""
    return {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": False,
            "properties": properties,
        },
    }


_SOURCE = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "pattern": "^(https?|ftp|file)://"},
        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "format": {"enum": list(ARCHIVE_FORMATS)},
        "unpack_to": {"type": "string"},
        "path": {"type": "string", "description": "destination of a single file (format: file)"},
        "strip_components": {"type": "integer", "minimum": 0},
        "size": {"type": "integer", "minimum": 0, "description": "bytes; a shorter download is refused"},
        "contents": {
            "type": "string",
            "description": "a sha256sum file beside the manifest: the digest of each file the "
            "archive unpacks to (paths relative to the dataset folder), checked before placing",
        },
        "unchecked": {
            "type": "string",
            "minLength": 1,
            "description": "why the file's own sha256 is not known (required when sha256 is null)",
        },
        "note": {"type": "string"},
    },
}

_SUBSET = {
    "type": "object",
    "required": ["description"],
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "marker": {"type": "string", "description": "a file whose presence identifies the subset"},
        "files": {"type": "integer", "minimum": 0},
        "options": {"type": "object"},
        "splits": _COUNTS,
        "variants": _variants({"splits": _COUNTS}),
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "name",
        "title",
        "citation",
        "licence",
        "homepage",
        "chapters",
        "modality",
        "task",
        "classes",
        "dirnames",
        "access",
        "instructions",
        "loader",
    ],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "title": {"type": "string", "minLength": 1},
        "citation": {"type": "string", "minLength": 1},
        "licence": {"type": "string", "minLength": 1},
        "homepage": {"type": "string", "pattern": "^https?://"},
        "chapters": {"type": "array", "items": {"enum": list(CHAPTERS)}, "uniqueItems": True},
        "modality": {"enum": list(MODALITIES)},
        "task": {"enum": list(TASKS)},
        "classes": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "uniqueItems": True,
        },
        "dirnames": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "access": {"enum": list(ACCESS)},
        "instructions": {"type": "string", "minLength": 1},
        "sources": {"type": "array", "items": _SOURCE},
        "layout": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "detect": {"type": "array", "items": {"type": "string"}},
                "required": {"type": "array", "items": {"type": "string"}},
                "images": {"type": "array", "items": {"type": "string"}},
            },
        },
        "loader": {
            "type": "object",
            "required": ["kind"],
            "additionalProperties": False,
            "properties": {"kind": {"enum": list(LOADER_KINDS)}, "options": {"type": "object"}},
        },
        "splits": _COUNTS,
        "variants": _variants({"options": {"type": "object"}, "splits": _COUNTS}),
        "staged_subsets": {"type": "object", "additionalProperties": _SUBSET},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}


class ManifestError(ValueError):
    """A manifest that does not follow the schema; the message names the file and the field."""


@dataclass(frozen=True)
class Manifest:
    """A validated manifest (the YAML's fields as attributes, plus ``path``)."""

    name: str
    title: str
    citation: str
    licence: str
    homepage: str
    chapters: list[str]
    modality: str
    task: str
    classes: list[str]
    dirnames: list[str]
    access: str
    instructions: str
    loader: dict[str, Any]
    sources: list[dict[str, Any]] = field(default_factory=list)
    layout: dict[str, list[str]] = field(default_factory=dict)
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    staged_subsets: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    path: Path | None = None

    @property
    def kind(self) -> str:
        return self.loader["kind"]

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.loader.get("options") or {})

    @property
    def multilabel(self) -> bool:
        return self.task == "multilabel"

    def how_to_get(self) -> str:
        """One paragraph: access mode, instructions and source URLs."""
        lines = [f"{self.name} ({self.title}) — access: {self.access}. {self.instructions.strip()}"]
        for src in self.sources:
            lines.append(f"  source: {src['url']}")
        lines.append(f"  homepage: {self.homepage}")
        return "\n".join(lines)


def _field_path(error) -> str:
    parts = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "(top level)"


def validate_manifest(data: Any, path: str | Path = "<manifest>") -> list[str]:
    """All problems of one manifest, each as ``"<file>: field '<path>': <what is wrong>"``."""
    import jsonschema

    path = str(path)
    if not isinstance(data, dict):
        return [f"{path}: the manifest must be a mapping, got {type(data).__name__}"]
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = [
        f"{path}: field '{_field_path(e)}': {e.message}"
        for e in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if errors:
        return errors
    stem = Path(path).name.removesuffix(".yaml")
    if Path(path).suffix == ".yaml" and data["name"] != stem:
        errors.append(f"{path}: field 'name': {data['name']!r} differs from the file name {stem!r}")
    if data["access"] == "download" and not data.get("sources"):
        errors.append(f"{path}: field 'sources': access is 'download' but no source URL is given")
    allowed = set(data["classes"]) | {"total"}

    def check_counts(counts: dict, where: str) -> None:
        for split, per_class in (counts or {}).items():
            for cls in per_class:
                if cls not in allowed:
                    errors.append(
                        f"{path}: field '{where}.{split}.{cls}': not a class of this dataset "
                        f"(classes: {', '.join(data['classes'])}, or 'total')"
                    )

    check_counts(data.get("splits"), "splits")
    for vname, var in (data.get("variants") or {}).items():
        check_counts(var.get("splits"), f"variants.{vname}.splits")
    for sname, sub in (data.get("staged_subsets") or {}).items():
        check_counts(sub.get("splits"), f"staged_subsets.{sname}.splits")
        for vname, var in (sub.get("variants") or {}).items():
            if vname not in (data.get("variants") or {}):
                errors.append(
                    f"{path}: field 'staged_subsets.{sname}.variants.{vname}': no such variant"
                )
            check_counts(var.get("splits"), f"staged_subsets.{sname}.variants.{vname}.splits")
    for i, src in enumerate(data.get("sources") or []):
        if not src.get("sha256") and not src.get("unchecked"):
            errors.append(
                f"{path}: field 'sources[{i}].unchecked': {src['url']} has no sha256; give it, "
                "or say in 'unchecked' why it cannot be known"
            )
        if src.get("contents"):
            listing = Path(path).parent / src["contents"]
            if not listing.is_file():
                errors.append(f"{path}: field 'sources[{i}].contents': {listing} does not exist")
        if src.get("format", "file") == "file" and src.get("unpack_to"):
            errors.append(
                f"{path}: field 'sources[{i}].unpack_to': only archives are unpacked; use 'path'"
            )
    return errors


def manifest_path(name: str) -> Path:
    return MANIFEST_DIR / f"{name}.yaml"


def list_manifests() -> list[str]:
    """Names of every dataset that has a manifest, sorted."""
    return sorted(p.stem for p in MANIFEST_DIR.glob("*.yaml"))


def read_manifest_file(path: str | Path) -> Manifest:
    """Read and validate one YAML file (any location); raises :class:`ManifestError`."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text ({exc})") from exc
    except OSError as exc:
        raise ManifestError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    errors = validate_manifest(data, path)
    if errors:
        raise ManifestError("\n".join(errors))
    known = {f for f in Manifest.__dataclass_fields__ if f != "path"}
    return Manifest(**{k: v for k, v in data.items() if k in known}, path=path)


@functools.lru_cache(maxsize=256)
def _load_cached(path: str, digest: str) -> Manifest:
    # keyed on the content, so an edited file is re-read even within one timestamp tick
    return read_manifest_file(path)


def load_manifest(name: str) -> Manifest:
    """The manifest of dataset ``name``; a clear error lists the known names."""
    path = manifest_path(name)
    if not path.exists():
        raise KeyError(
            f"no manifest for dataset {name!r} in {MANIFEST_DIR}; "
            f"known: {', '.join(list_manifests())}"
        )
    return _load_cached(str(path), hashlib.sha1(path.read_bytes()).hexdigest())


def counts_for(
    manifest: Manifest, variant: str | None = None, subset: str | None = None
) -> dict[str, dict[str, int]]:
    """Expected split/class counts of the full dataset or a staged subset (optionally a variant)."""
    spec: dict[str, Any] = (
        manifest.staged_subsets[subset]
        if subset
        else {
            "splits": manifest.splits,
            "variants": manifest.variants,
        }
    )
    if variant is None:
        return dict(spec.get("splits") or {})
    return dict(((spec.get("variants") or {}).get(variant) or {}).get("splits") or {})
