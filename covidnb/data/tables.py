"""Reading the files a dataset lists its samples in: CSV tables and one-entry-a-line lists.

Every error names the file (and the line, where there is one) and what is wrong with it, so a
damaged or mislabelled copy is found from the message alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd


def require_file(path: Path, what: str) -> Path:
    """``path`` itself; raises ``FileNotFoundError("<path>: <what> does not exist")`` if absent."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} does not exist")
    return path


def require_columns(df: pd.DataFrame, columns: Iterable[str], path: str | os.PathLike) -> None:
    """Raise ``ValueError`` naming ``path`` and every column of ``columns`` that ``df`` lacks
    (empty names are ignored, so optional columns can be passed as ``""``)."""
    missing = [c for c in columns if c and c not in df.columns]
    if missing:
        raise ValueError(
            f"{path}: column(s) {', '.join(map(repr, missing))} not found "
            f"(columns: {', '.join(df.columns)})"
        )


def read_text_csv(
    path: str | os.PathLike,
    *,
    encoding: str = "utf-8",
    columns: Iterable[str] = (),
    hint: str = "",
) -> pd.DataFrame:
    """A CSV with every cell as ``str`` (blank cells ``""``, never NaN), so identifiers such as
    ``001`` keep their digits. ``columns`` must be present; ``hint`` is appended to the message
    when the bytes do not decode as ``encoding``."""
    try:
        df = pd.read_csv(path, encoding=encoding, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not readable as {encoding} ({exc}){hint}") from exc
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{path}: empty file, expected a header row") from exc
    require_columns(df, columns, path)
    return df


def listed_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each non-blank line of a UTF-8 list or label file, the text
    stripped of surrounding white space; line numbers count from 1 as editors do."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:  # name the file and line, not just the byte
                raise ValueError(f"{path}:{lineno}: not UTF-8 text ({exc}); the file is "
                                 "damaged or not a list file") from exc
            text = line.strip()
            if text:
                yield lineno, text


def label_lines(
    path: str | os.PathLike, *, field: int, labels: Iterable[str], form: str
) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each non-blank line of a white-space separated label file
    whose ``field``-th field is one of ``labels``; any other line raises ``ValueError`` naming
    the file, the line, the expected ``form`` and the labels."""
    labels = list(labels)
    for lineno, line in listed_lines(path):
        parts = line.split()
        if len(parts) <= field or parts[field] not in labels:
            raise ValueError(
                f"{path}:{lineno}: expected {form!r} with label in {labels}, got {line!r}"
            )
        yield lineno, parts
