"""Issue 14, data: a missing root, truncated or tampered downloads, garbled listings and bad
manifests are refused with a message naming the file; 12-bit images keep their brightness;
multi-class AUC takes probabilities only."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from covidnb.cli import main as cli_main
from covidnb.data import FetchError, fetch
from covidnb.data.locate import DatasetNotFound, find_dataset
from covidnb.data.verify import verify

MANIFESTS = Path(__file__).resolve().parents[1] / "data_manifests"


# -- a data root that does not exist -----------------------------------------------------------
def test_verify_with_a_missing_root_fails_and_checks_nothing(shared_data, tmp_path, capsys):
    missing = tmp_path / "missing"
    assert cli_main(["data", "verify", "covid-ct", "--root", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err
    with pytest.raises(DatasetNotFound, match="does not exist; no other root was searched"):
        find_dataset("covid-ct", missing)  # the copy under COVIDNB_DATA is not taken instead


def test_verify_with_a_root_without_the_dataset_does_not_verify_another_copy(shared_data, tmp_path,
                                                                             capsys):
    assert cli_main(["data", "verify", "covid-ct", "--root", str(tmp_path)]) == 1
    cap = capsys.readouterr()
    assert "OK" not in cap.out and "not found" in cap.err


# -- downloads: truncation and tampering --------------------------------------------------------
class _Handler(http.server.SimpleHTTPRequestHandler):
    short_by = 0  # bytes cut from the end of every file while its full length is announced

    def log_message(self, *args):
        pass

    def do_GET(self):
        data = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) - self.short_by])
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    handler = type("H", (_Handler,), {})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(handler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def _zip(tree: Path, dest: Path, top: str = "COVID-CT-main") -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for f in sorted(tree.rglob("*")):
            if f.is_file():
                zf.write(f, f"{top}/" + f.relative_to(tree).as_posix())
    return dest


def test_a_truncated_download_is_refused(mini_covid_ct, server, edit_manifest, mini_counts, tmp_path):
    srv, base, handler = server
    z = _zip(mini_covid_ct, srv / "covid-ct.zip")
    handler.short_by = 1000
    edit_manifest("covid-ct", splits=mini_counts, sources=[
        {"url": f"{base}/covid-ct.zip", "sha256": None, "unchecked": "test", "format": "zip",
         "strip_components": 1}])
    with pytest.raises(FetchError, match=r"truncated download of .*covid-ct.zip") as info:
        fetch("covid-ct", root=tmp_path / "dest", progress=False)
    assert str(z.stat().st_size) in str(info.value)
    assert list((tmp_path / "dest").iterdir()) == []  # nothing unpacked


def test_a_download_shorter_than_the_manifest_size_is_refused(mini_covid_ct, server, edit_manifest,
                                                              mini_counts, tmp_path):
    srv, base, _ = server
    z = _zip(mini_covid_ct, srv / "covid-ct.zip")
    edit_manifest("covid-ct", splits=mini_counts, sources=[
        {"url": f"{base}/covid-ct.zip", "sha256": None, "unchecked": "test", "format": "zip",
         "strip_components": 1, "size": z.stat().st_size + 10}])
    with pytest.raises(FetchError, match="the manifest's size"):
        fetch("covid-ct", root=tmp_path / "dest", progress=False)


def _contents(tree: Path, tmp_manifests: Path, name: str) -> str:
    lines = [f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.relative_to(tree).as_posix()}\n"
             for f in sorted(tree.rglob("*.*")) if "Images-processed" in f.parts]
    (tmp_manifests / name).write_text("".join(lines))
    return name


def test_a_swapped_image_in_an_unhashed_archive_is_refused(mini_covid_ct, server, tmp_manifests,
                                                           edit_manifest, mini_counts, tmp_path):
    srv, base, _ = server
    listing = _contents(mini_covid_ct, tmp_manifests, "covid-ct.test.sha256")
    images = sorted((mini_covid_ct / "Images-processed" / "CT_COVID").iterdir())
    images[0].write_bytes(images[1].read_bytes())  # a different, perfectly valid image
    _zip(mini_covid_ct, srv / "covid-ct.zip")
    edit_manifest("covid-ct", splits=mini_counts, sources=[
        {"url": f"{base}/covid-ct.zip", "sha256": None, "unchecked": "test", "contents": listing,
         "format": "zip", "strip_components": 1}])
    with pytest.raises(FetchError) as info:
        fetch("covid-ct", root=tmp_path / "dest", progress=False)
    msg = str(info.value)
    assert f"Images-processed/CT_COVID/{images[0].name}" in msg and "Nothing was placed" in msg
    assert list((tmp_path / "dest").iterdir()) == []


def test_verify_checks_the_manifest_contents_lists(mini_covid_ct, tmp_manifests, edit_manifest,
                                                   mini_counts):
    listing = _contents(mini_covid_ct, tmp_manifests, "covid-ct.test.sha256")
    man = yaml.safe_load((tmp_manifests / "covid-ct.yaml").read_text())
    sources = [dict(s, contents=listing) if s["url"].endswith("CT_COVID.zip") else s
               for s in man["sources"]]
    edit_manifest("covid-ct", splits=mini_counts, sources=sources)
    assert verify("covid-ct", mini_covid_ct.parent, search=False).ok
    images = sorted((mini_covid_ct / "Images-processed" / "CT_COVID").iterdir())
    images[0].write_bytes(images[1].read_bytes())
    rep = verify("covid-ct", mini_covid_ct.parent, search=False)
    assert not rep.ok
    assert any(images[0].name in p and listing in why for p, why in rep.corrupt)


def test_every_download_has_a_sha256_or_says_why_not():
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for src in yaml.safe_load(path.read_text()).get("sources") or []:
            assert src.get("sha256") or src.get("unchecked"), (path.name, src["url"])


def test_the_contents_lists_match_the_staged_data(shared_data):
    from covidnb.data.verify import read_sha256sums

    staged = {"covid-ct": shared_data / "covid-ct",
              "cohen-covid-chestxray": shared_data / "covid-chestxray-dataset"}
    for name, root in staged.items():
        man = yaml.safe_load((MANIFESTS / f"{name}.yaml").read_text())
        for src in man["sources"]:
            if src.get("contents"):
                for rel, digest in read_sha256sums(MANIFESTS / src["contents"]).items():
                    assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest, rel


def test_a_manifest_without_sha256_or_reason_is_invalid(tmp_path):
    from covidnb.data.manifest import validate_manifest

    data = yaml.safe_load((MANIFESTS / "covid-ct.yaml").read_text())
    data["sources"][0].pop("unchecked")
    errors = validate_manifest(data, MANIFESTS / "covid-ct.yaml")
    assert any("sources[0].unchecked" in e for e in errors)


# -- listings and manifests that cannot be read --------------------------------------------------
def test_a_garbled_split_file_is_named(mini_covid_ct):
    from covidnb.data.tables import listed_lines

    split = mini_covid_ct / "Data-split" / "COVID" / "valCT_COVID.txt"
    split.write_bytes(split.read_bytes() + b"\xff\xfe\x00garbage\n")
    with pytest.raises(ValueError, match=r"valCT_COVID.txt:3: not UTF-8 text"):
        list(listed_lines(split))
    rep = verify("covid-ct", mini_covid_ct.parent, search=False)
    assert any("valCT_COVID.txt:3" in why for _, why in rep.corrupt)


def test_a_broken_manifest_is_a_message(tmp_manifests, capsys):
    (tmp_manifests / "covid-ct.yaml").write_text("name: covid-ct\nsources: [\n")
    assert cli_main(["data", "list"]) == 1
    cap = capsys.readouterr()
    assert "invalid manifest" in cap.out and "covid-ct.yaml: not valid YAML" in cap.err
    assert "nih-chestxray14" in cap.out  # the others are still listed
    assert cli_main(["data", "verify", "covid-ct"]) == 1
    assert "covid-ct.yaml: not valid YAML" in capsys.readouterr().err
    (tmp_manifests / "covid-ct.yaml").write_text("name: covid-ct\ntitle: 3\n")
    assert cli_main(["data", "fetch", "covid-ct", "--quiet"]) == 1
    assert "covid-ct.yaml: field" in capsys.readouterr().err
    (tmp_manifests / "covid-ct.yaml").write_bytes(b"name: \xff\xfe\n")
    assert cli_main(["data", "verify", "covid-ct"]) == 1
    assert "not UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("argv, expect", [
    (["data", "verify", "no-such-set"], "no manifest for dataset 'no-such-set'"),
    (["data", "fetch", "no-such-set", "--quiet"], "no manifest for dataset 'no-such-set'"),
    (["data", "list", "--root", "/no/such/folder"], "--root /no/such/folder: the folder does not exist"),
    (["data", "verify", "covid-ct", "--subset", "nope"], "no staged subset 'nope'"),
])
def test_bad_data_arguments_are_messages(argv, expect, capsys, shared_data):
    assert cli_main(argv) != 0
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err and not err.startswith('error: "')


# -- bit depth -----------------------------------------------------------------------------------
def test_twelve_bit_data_in_a_sixteen_bit_png_keeps_its_brightness(tmp_path):
    from covidnb.data.imageio import load_image, load_resized_uint8

    a = np.linspace(0, 4095, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "ct12.png")
    assert Image.open(tmp_path / "ct12.png").mode == "I;16"
    out = load_image(tmp_path / "ct12.png")[..., 0]
    np.testing.assert_allclose(out, a / 4095.0, atol=1e-6)
    assert load_resized_uint8(tmp_path / "ct12.png", 32).max() == 255
    # a dark 12-bit image stays dark: the depth is 12 bits, not the image's own maximum
    dark = (a // 4).astype(np.uint16)
    Image.fromarray(dark).save(tmp_path / "dark12.png")
    np.testing.assert_allclose(load_image(tmp_path / "dark12.png")[..., 0], dark / 4095.0, atol=1e-6)
    np.testing.assert_allclose(load_image(tmp_path / "ct12.png", bit_depth=16)[..., 0], a / 65535.0,
                               atol=1e-6)


def test_a_png_sbit_chunk_gives_the_depth(tmp_path):
    import struct
    import zlib

    from covidnb.data.imageio import load_image, png_significant_bits

    a = np.linspace(0, 1023, 16 * 16).reshape(16, 16).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "p.png")
    raw = (tmp_path / "p.png").read_bytes()
    chunk = b"sBIT" + bytes([10])
    sbit = struct.pack(">I", 1) + chunk + struct.pack(">I", zlib.crc32(chunk))
    at = raw.index(b"IDAT") - 4  # before the first IDAT chunk
    (tmp_path / "p10.png").write_bytes(raw[:at] + sbit + raw[at:])
    assert png_significant_bits(tmp_path / "p10.png") == 10
    np.testing.assert_allclose(load_image(tmp_path / "p10.png")[..., 0], a / 1023.0, atol=1e-6)


# -- multi-class AUC takes probabilities -----------------------------------------------------------
def test_multiclass_metrics_refuse_logits_and_convert_them_when_asked():
    from covidnb.metrics.multiclass import multiclass_metrics, softmax

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    logits = rng.normal(size=(200, 3)) * 2 + np.eye(3)[y]
    with pytest.raises(ValueError, match="from_logits=True"):
        multiclass_metrics(y, logits, ["a", "b", "c"])
    with pytest.raises(ValueError, match="sum to 1"):
        multiclass_metrics(y, np.full((200, 3), 0.5), ["a", "b", "c"])
    probs = softmax(logits)
    ref = multiclass_metrics(y, probs, ["a", "b", "c"])
    conv = multiclass_metrics(y, logits, ["a", "b", "c"], from_logits=True)
    assert conv["macro"]["auc"] == pytest.approx(ref["macro"]["auc"])
    assert conv["accuracy"] == ref["accuracy"]
