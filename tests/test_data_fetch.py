"""fetch(): served from a local HTTP server; sha256 checked before use; nothing overwritten."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
import zipfile

import pytest

from covidnb.cli import main as cli_main
from covidnb.data import FetchError, fetch


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def archive(mini_covid_ct, server):
    """The mini COVID-CT tree zipped under one top folder, as GitHub archives are."""
    srv, base = server
    zpath = srv / "covid-ct.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(mini_covid_ct.rglob("*")):
            if f.is_file():
                zf.write(f, "COVID-CT-main/" + f.relative_to(mini_covid_ct).as_posix())
    return f"{base}/covid-ct.zip", hashlib.sha256(zpath.read_bytes()).hexdigest()


@pytest.fixture
def point_at(edit_manifest, mini_counts):
    """``point_at(url, sha)``: covid-ct's manifest downloads one zip (top folder stripped) and
    expects the counts of the mini tree."""

    def point(url, sha):
        edit_manifest(
            "covid-ct",
            sources=[{"url": url, "sha256": sha, "format": "zip", "strip_components": 1,
                      **({} if sha else {"unchecked": "a test archive"})}],
            splits=mini_counts,
        )

    return point


def test_fetch_downloads_checks_unpacks_and_verifies(archive, point_at, tmp_path):
    url, sha = archive
    point_at(url, sha)
    dest = tmp_path / "dest"
    report = fetch("covid-ct", root=dest, progress=False)
    assert report.ok, str(report)
    assert report.root == (dest / "covid-ct").resolve() and report.n_files == 12
    assert not [p for p in dest.iterdir() if p.name != "covid-ct"]  # no temporary leftovers
    # fetching again is harmless: identical files are left alone
    assert fetch("covid-ct", root=dest, progress=False).ok


def test_checksum_mismatch_names_url_expected_got_and_leaves_nothing(archive, point_at, tmp_path):
    url, sha = archive
    wrong = "0" * 64
    point_at(url, wrong)
    dest = tmp_path / "dest"
    with pytest.raises(FetchError) as err:
        fetch("covid-ct", root=dest, progress=False)
    msg = str(err.value)
    assert url in msg and wrong in msg and sha in msg
    assert list(dest.iterdir()) == []  # no partial download, nothing unpacked


def test_existing_files_are_not_overwritten(archive, point_at, tmp_path):
    url, sha = archive
    point_at(url, sha)
    target = tmp_path / "dest" / "covid-ct" / "COVID-CT-MetaInfo.csv"
    target.parent.mkdir(parents=True)
    target.write_text("my own notes\n")
    with pytest.raises(FetchError, match="refusing to overwrite") as err:
        fetch("covid-ct", root=tmp_path / "dest", progress=False)
    assert str(target) in str(err.value)
    assert target.read_text() == "my own notes\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["COVID-CT-MetaInfo.csv"]


def test_unreachable_url_says_how_to_get_data(tmp_manifests, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/covid-ct.zip"
    with pytest.raises(FetchError) as err:
        fetch("covid-ct", root=tmp_path / "dest", url=url, progress=False)
    msg = str(err.value)
    assert url in msg and "by hand" in msg and "github.com/UCSD-AI4H/COVID-CT" in msg


def test_by_request_dataset_is_not_downloaded(tmp_path, capsys):
    assert cli_main(["data", "fetch", "covid19-diag", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "by-request" in err and "MLMIP/COVID19-Diag" in err


def test_cli_fetch_with_url_override(archive, point_at, tmp_path, capsys):
    url, sha = archive
    point_at("https://example.invalid/never-used.zip", None)
    rc = cli_main(
        [
            "data",
            "fetch",
            "covid-ct",
            "--root",
            str(tmp_path / "d2"),
            "--url",
            url,
            "--sha256",
            "1" * 64,
            "--quiet",
        ]
    )
    assert rc == 1 and "checksum mismatch" in capsys.readouterr().err
    rc = cli_main(
        [
            "data",
            "fetch",
            "covid-ct",
            "--root",
            str(tmp_path / "d3"),
            "--url",
            url,
            "--sha256",
            sha,
            "--quiet",
        ]
    )
    # an override URL is unpacked as is (no strip): the tree sits one level down and fetch says so
    out = capsys.readouterr()
    assert rc == 1 and "do not have the layout" in out.err
    assert (tmp_path / "d3" / "covid-ct" / "COVID-CT-main" / "Data-split").is_dir()


def test_tar_gz_source_with_unpack_to(mini_covid_ct, server, edit_manifest, mini_counts, tmp_path):
    import tarfile

    srv, base = server
    tpath = srv / "images.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        for cls in ("CT_COVID", "CT_NonCOVID"):
            tf.add(mini_covid_ct / "Images-processed" / cls, arcname=cls)
    lists = srv / "rest.zip"
    with zipfile.ZipFile(lists, "w") as zf:
        for f in sorted(mini_covid_ct.rglob("*")):
            if f.is_file() and "Images-processed" not in f.parts:
                zf.write(f, f.relative_to(mini_covid_ct).as_posix())
    edit_manifest(
        "covid-ct",
        sources=[
            {
                "url": f"{base}/images.tar.gz",
                "sha256": hashlib.sha256(tpath.read_bytes()).hexdigest(),
                "format": "tar.gz",
                "unpack_to": "Images-processed",
            },
            {
                "url": f"{base}/rest.zip",
                "sha256": hashlib.sha256(lists.read_bytes()).hexdigest(),
                "format": "zip",
            },
        ],
        splits=mini_counts,
    )
    report = fetch("covid-ct", root=tmp_path / "dest", progress=False)
    assert report.ok, str(report)
    assert (
        len(list((tmp_path / "dest" / "covid-ct" / "Images-processed" / "CT_COVID").iterdir())) == 6
    )
