"""Source tests: directories, .gitignore, .env files, archives, notebooks, bundles, binaries."""

from __future__ import annotations

import gzip
import io
import json
import random
import shutil
import string
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from bastion.tools.scan import ScanUsageError, scan_bytes, scan_paths
from bastion.tools.scan import content as content_mod

GIT = shutil.which("git") or "git"
ALNUM = string.ascii_letters + string.digits
RNG = random.Random()


def rnd(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choices(alphabet, k=n))


def groq() -> str:
    return "gs" + "k_" + rnd(52)


def anthropic() -> str:
    return "s" + "k-ant-api03-" + rnd(93, ALNUM + "-_") + "AA"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tgz_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_scan_directory_reports_path_and_line(tmp_path: Path) -> None:
    key = groq()
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "settings.py").write_text(f"DEBUG = True\n\nGROQ = '{key}'\n")
    (tmp_path / "clean.py").write_text("print('hello')\n")
    (f,) = scan_paths([tmp_path])
    expected = (str(tmp_path / "pkg" / "settings.py"), 3, 9, key)
    assert (f.path, f.line, f.column, f.secret) == expected


def test_scan_missing_path_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ScanUsageError):
        scan_paths([tmp_path / "nope"])


def test_scan_gitignore_without_git(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("build/\n*.log\n!keep.log\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.py").write_text(f"k = '{groq()}'\n")
    (tmp_path / "debug.log").write_text(f"k = '{groq()}'\n")
    (tmp_path / "keep.log").write_text(f"k = '{groq()}'\n")
    assert [Path(f.path).name for f in scan_paths([tmp_path])] == ["keep.log"]
    assert len(scan_paths([tmp_path], use_gitignore=False)) == 3


def test_scan_gitignore_in_git_work_tree(tmp_path: Path) -> None:
    subprocess.run([GIT, "init", "-q", str(tmp_path)], check=True)  # noqa: S603 - fixed git argv
    (tmp_path / ".gitignore").write_text("secrets/\n.env\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "k.txt").write_text(groq())
    (tmp_path / ".env").write_text("DEBUG=1\n")
    (tmp_path / "app.py").write_text(f"K = '{groq()}'\n")
    found = scan_paths([tmp_path])
    assert [Path(f.path).name for f in found] == ["app.py"]
    names = sorted(Path(f.path).name for f in scan_paths([tmp_path], use_gitignore=False))
    assert names == [".env", "app.py", "k.txt"]


def test_scan_dotenv_files(tmp_path: Path) -> None:
    (tmp_path / ".env.production").write_text("DEBUG=false\n")
    (tmp_path / ".env.example").write_text("OPENAI_API_KEY=\n")
    (tmp_path / ".env.local").write_text(f"ANTHROPIC_API_KEY={anthropic()}\n")
    found = {(Path(f.path).name, f.detector) for f in scan_paths([tmp_path], use_gitignore=False)}
    assert found == {
        (".env.production", "dotenv-file"),
        (".env.local", "dotenv-file"),
        (".env.local", "anthropic-api-key"),
    }


def test_scan_zip_apk_tgz_and_nested(tmp_path: Path) -> None:
    k_zip, k_apk, k_tgz, k_nested = groq(), anthropic(), groq(), anthropic()
    conf = f"a: 1\nkey: {k_zip}\n".encode()
    (tmp_path / "bundle.zip").write_bytes(zip_bytes({"conf/app.yaml": conf}))
    strings_xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n<resources>\n'
        '    <string name="app_name">Demo</string>\n'
        f'    <string name="anthropic_key">{k_apk}</string>\n</resources>\n'
    )
    (tmp_path / "app.apk").write_bytes(zip_bytes({
        "AndroidManifest.xml": b"\x03\x00\x08\x00" + b"\x00" * 64,
        "res/values/strings.xml": strings_xml.encode(),
        "classes.dex": b"dex\n035\x00" + bytes(range(256)),
    }))
    sh = f"GROQ={k_tgz}\n".encode()
    (tmp_path / "release.tar.gz").write_bytes(tgz_bytes({"pkg/cfg.env.sh": sh}))
    inner = tgz_bytes({"deep/secret.json": json.dumps({"k": k_nested}, indent=1).encode()})
    (tmp_path / "outer.zip").write_bytes(zip_bytes({"libs/inner.tgz": inner}))
    found = {f.secret: (f.path, f.line) for f in scan_paths([tmp_path], use_gitignore=False)}
    assert found == {
        k_zip: (f"{tmp_path / 'bundle.zip'}!conf/app.yaml", 2),
        k_apk: (f"{tmp_path / 'app.apk'}!res/values/strings.xml", 4),
        k_tgz: (f"{tmp_path / 'release.tar.gz'}!pkg/cfg.env.sh", 1),
        k_nested: (f"{tmp_path / 'outer.zip'}!libs/inner.tgz!deep/secret.json", 2),
    }


def test_scan_gzip_single_file_and_corrupt_archive() -> None:
    key = groq()
    (f,) = scan_bytes("dump.sql.gz", gzip.compress(f"-- {key}\n".encode()))
    assert f.path == "dump.sql.gz!dump.sql"
    assert scan_bytes("broken.zip", b"PK\x03\x04" + b"\x00" * 400) == []


def test_scan_binary_resources_ascii_and_utf16() -> None:
    k1, k2 = groq(), anthropic()
    blob = b"\x02\x00\x0c\x00" + b"\x00" * 30 + k1.encode() + b"\x00\x01" + k2.encode("utf-16-le")
    found = {f.secret: f.column for f in scan_bytes("resources.arsc", blob)}
    assert found == {k1: 35, k2: 35 + len(k1) + 2}
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20 + groq().encode()
    assert scan_bytes("logo.png", png) == []


def test_scan_notebook_cells_and_outputs() -> None:
    k_src, k_out = groq(), anthropic()
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Demo\n"]},
            {
                "cell_type": "code", "execution_count": 1, "metadata": {},
                "source": ["import groq\n", f"client = groq.Groq(api_key='{k_src}')\n"],
                "outputs": [{"output_type": "stream", "name": "stdout", "text": [f"{k_out}\n"]}],
            },
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    raw = json.dumps(nb, indent=1).encode()
    lines = raw.decode().splitlines()
    found = {f.secret: (f.line, f.note) for f in scan_bytes("nb.ipynb", raw)}
    src_line = next(i for i, line in enumerate(lines, 1) if k_src in line)
    out_line = next(i for i, line in enumerate(lines, 1) if k_out in line)
    assert found == {k_src: (src_line, "cell 2 source"), k_out: (out_line, "cell 2 output")}


def test_scan_minified_bundle_column() -> None:
    key = "AI" + "za" + rnd(35, ALNUM + "-_")
    prefix = "!function(e){var t={};" * 2000 + 'const cfg={apiKey:"'
    bundle = prefix + key + '"};' + "e.exports=t;" * 1000 + "\n//# sourceMappingURL=app.js.map\n"
    (f,) = scan_bytes("app.min.js", bundle.encode())
    assert (f.line, f.column, f.detector) == (1, len(prefix) + 1, "google-ai-api-key")
    smap = json.dumps({"sourcesContent": [f"const a = 1;\nconst k = '{key}';\n"]})
    (g,) = scan_bytes("app.js.map", smap.encode())
    assert g.secret == key


def test_scan_large_file_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content_mod, "CHUNK_BYTES", 4096)
    k1, k2 = groq(), groq()
    lines = [f"line {i}" for i in range(3000)]
    lines[2500] = f"k = '{k1}'"
    long_line = "x;" * 5000 + f" '{k2}' " + "y;" * 10
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines) + "\n" + long_line + "\n")
    found = {f.secret: (f.line, f.column) for f in scan_paths([path])}
    assert found == {k1: (2501, 6), k2: (3001, 10003)}


def test_scan_many_files_in_parallel(tmp_path: Path) -> None:
    keys = {}
    for i in range(80):
        key = groq()
        keys[key] = str(tmp_path / f"m{i:02d}.py")
        (tmp_path / f"m{i:02d}.py").write_text(f"# {i}\nK = '{key}'\n" if i % 2 else "x = 1\n")
    found = {f.secret: f.path for f in scan_paths([tmp_path], use_gitignore=False, jobs=2)}
    assert found == {k: p for k, p in keys.items() if int(Path(p).stem[1:]) % 2}
