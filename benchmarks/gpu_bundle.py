"""Build what a bare GPU machine needs to run ``benchmarks/gpu_paper.py``, and check its size.

    python benchmarks/gpu_bundle.py --out /tmp/covidnb-gpu-bundle [--max-mib 64]
                                    [--sizes 224x3,256x1] [--raw | --no-data]

The machine gets a copy of the checkout (tracked files and untracked ones git does not ignore)
plus this bundle, 64 MiB in all. The bundle holds:

* ``data/covid-ct/``: by default a decoded pack of COVID-CT (:mod:`covidnb.data.pack`): every
  image the splits use, decoded by the dataset class itself at each ``(image size, channels)``
  the plan of ``gpu_paper.py`` trains on (the ``paper`` profiles: 224 px × 3 for Hu et al.,
  256 px × 1 for the thesis; ``--sizes`` to choose), stored as xz-compressed uint8 arrays, with
  the split files, the meta CSVs, ``SHA256SUMS`` and ``PROVENANCE.md``. The dataset opens from
  it with every sample bit-identical to decoding the file, and records the checksum the files
  give (``packed: true`` and the pack's sha256 beside it), so the runs name the same data. The
  raw files (95 MiB) do not fit; ``--raw`` copies them anyway (for a machine with more room).
* ``run.sh``: the one command to run there, ``PYTHONPATH=. COVIDNB_DATA=<bundle>/data python3
  benchmarks/gpu_paper.py --out $OUT --budget-s 480``.
* no wheels: every module the run imports (torch, torchvision, numpy, pandas, scikit-learn,
  scikit-image, scipy, PIL, yaml, tqdm) is in the GPU machine's image; ``--check-imports``
  lists what the run imports beyond the standard library, to compare with that image.

It prints the size of each part and of the whole, and exits 1 when the whole is over
``--max-mib`` (naming what is too big), 0 otherwise. Measured 2026-12-06 on 2 CPU cores: packing
took 1 min 43 s; the pack was 46.8 MiB (224 px × 3: 15.8 + 5.9 MiB; 256 px × 1: 24.7 MiB), 57.6
MiB with the checkout's 10.8.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COVID_CT_PARTS = ("Images-processed",  # the raw-file mode (--raw) "Data-split", "COVID-CT-MetaInfo.csv",
                  "NonCOVID-CT-MetaInfo.csv", "SHA256SUMS", "PROVENANCE.md")
MIB = 1024 * 1024


def travelling_tree_bytes(repo: Path = REPO) -> int:
    """Bytes of the files that travel with the checkout: tracked, and untracked not ignored."""
    names = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=repo,
                           capture_output=True, check=True).stdout.split(b"\0")
    total = 0
    for n in filter(None, names):
        p = repo / os.fsdecode(n)
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def data_root() -> Path:
    for root in os.environ.get("COVIDNB_DATA", "").split(os.pathsep):
        if root and (Path(root) / "covid-ct").is_dir():
            return Path(root)
    raise SystemExit("COVIDNB_DATA does not name a folder holding covid-ct/")


def plan_sizes(profile: str = "paper") -> list[tuple[int, int]]:
    """The ``(image_size, channels)`` pairs ``gpu_paper.py``'s plan trains on at ``profile``."""
    import importlib.util

    mod = sys.modules.get("gpu_paper")
    if mod is None:
        spec = importlib.util.spec_from_file_location("gpu_paper", Path(__file__).with_name(
            "gpu_paper.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    return sorted({(c["image_size"], c["channels"]) for _, c in mod.plan(profile)})


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"224x3,256x1"`` → ``[(224, 3), (256, 1)]``."""
    try:
        return [(int(s), int(c)) for s, c in (p.split("x") for p in text.split(",") if p)]
    except ValueError:
        raise SystemExit(f"--sizes {text!r}: expected SIZExCHANNELS,… e.g. 224x3,256x1") from None


def run_sh(bundle: str) -> str:
    data = f"{bundle}/data" if bundle.startswith("/") else f"$PWD/{bundle}/data"
    return ("#!/bin/sh\n# from the repository root on the GPU machine\nset -e\n"
            f"export PYTHONPATH=.:$PYTHONPATH COVIDNB_DATA={data} "
            "COVIDNB_PROGRESS=0 PYTHONUNBUFFERED=1\n"
            'python3 benchmarks/gpu_paper.py --out "${OUT:-gpu_out}" --budget-s 480 "$@"\n')


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/covidnb-gpu-bundle",
                    help="the bundle folder (to send it with the device tool: .gpu_bundle in "
                         "the checkout, listed in .git/info/exclude)")
    ap.add_argument("--max-mib", type=float, default=64.0)
    ap.add_argument("--no-data", action="store_true", help="leave the COVID-CT files out")
    ap.add_argument("--raw", action="store_true",
                    help="copy the COVID-CT files as they are instead of packing them")
    ap.add_argument("--sizes", default=None,
                    help="SIZExCHANNELS,… to pack (default: those of gpu_paper.py's plan)")
    ap.add_argument("--profile", default="paper", help="the plan's profile for the sizes")
    ap.add_argument("--xz-preset", type=int, default=6)
    ap.add_argument("--check-imports", action="store_true",
                    help="list the third-party modules a run imports")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"{out}: exists and is not a folder; name a bundle folder")
    if out.exists():
        shutil.rmtree(out)
    (out / "data").mkdir(parents=True)
    rel = os.path.relpath(out, REPO) if out.resolve().is_relative_to(REPO) else str(out)
    (out / "run.sh").write_text(run_sh(rel))
    (out / "run.sh").chmod(0o755)
    if not args.no_data and args.raw:
        src = data_root() / "covid-ct"
        for part in COVID_CT_PARTS:
            s = src / part
            (shutil.copytree if s.is_dir() else shutil.copy2)(s, out / "data" / "covid-ct" / part)
    elif not args.no_data:
        from covidnb.data.pack import write_pack

        sizes = parse_sizes(args.sizes) if args.sizes else plan_sizes(args.profile)
        src = data_root() / "covid-ct"
        print(f"packing {src} at " + ", ".join(f"{s} px × {c}" for s, c in sizes), flush=True)
        write_pack(src, out / "data" / "covid-ct", sizes, preset=args.xz_preset,
                   echo=lambda line: print(line, flush=True))
    if args.check_imports:
        code = ("import sys; from covidnb.experiment import run_experiment; "
                "import covidnb.chapters.dsn_saal, covidnb.chapters.dresunet, covidnb.models; "
                "print(sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)))")
        print(subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                             text=True, check=False).stdout.strip())
    tree, bundle = travelling_tree_bytes(), folder_bytes(out)
    data = folder_bytes(out / "data")
    total = tree + bundle
    print(f"checkout (tracked + untracked, not ignored): {tree / MIB:7.1f} MiB")
    print(f"bundle {out}: {bundle / MIB:7.1f} MiB (data {data / MIB:.1f} MiB)")
    print(f"together: {total / MIB:7.1f} MiB of {args.max_mib:g} MiB")
    if total > args.max_mib * MIB:
        print(f"over the limit by {(total - args.max_mib * MIB) / MIB:.1f} MiB"
              + (f": the COVID-CT {'files' if args.raw else 'pack'} alone "
               f"{'are' if args.raw else 'is'} {data / MIB:.1f} MiB" if data else ""),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
