"""The image store through the API and the CLI: import with streamed progress,
listing, removal, and errors that name what is wrong."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from corral_testlib import Daemon, run_cli

pytestmark = pytest.mark.skipif(
    not (shutil.which("umoci") and shutil.which("skopeo") and Path("/bin/busybox").exists()),
    reason="needs umoci, skopeo and busybox-static (make test installs them)",
)


def rootfs_tar(path: Path, *, escape: bool = False) -> None:
    with tarfile.open(path, "w") as tar:
        for name in ("bin", "etc"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        data = Path("/bin/busybox").read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("bin/sh")
        link.type = tarfile.SYMTYPE
        link.linkname = "busybox"
        tar.addfile(link)
        if escape:
            evil = tarfile.TarInfo("../../escaped")
            evil.size = 4
            tar.addfile(evil, io.BytesIO(b"evil"))


def stream_lines(daemon: Daemon, path: str, body: dict) -> list[dict]:
    r = daemon.api.request("POST", path, params={"progress": "true"}, json_body=body, timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def test_import_streams_progress_then_the_image(daemon: Daemon, tmp_path: Path) -> None:
    archive = tmp_path / "mini.tar"
    rootfs_tar(archive)
    lines = stream_lines(daemon, "/v1/images/import", {"path": str(archive), "format": "rootfs", "name": "mini:1"})
    assert lines[-1].keys() == {"result"}, lines
    assert any("progress" in line for line in lines[:-1]), lines
    result = lines[-1]["result"]
    assert result["status"] == "success", result
    image = result["data"]["images"][0]
    assert image["digest"].startswith("sha256:") and "mini:1" in image["tags"], image

    listed = daemon.api.ok("GET", "/v1/images")["data"]["images"]
    assert [i["digest"] for i in listed if "mini:1" in i["tags"]] == [image["digest"]]

    host = f"unix://{daemon.sock}"
    cp = run_cli(["images"], host=host)
    assert cp.returncode == 0 and "mini:1" in cp.stdout, cp
    cp = run_cli(["image", "rm", "mini:1"], host=host)
    assert cp.returncode == 0, cp
    assert not [i for i in daemon.api.ok("GET", "/v1/images")["data"]["images"] if "mini:1" in (i.get("tags") or [])]


def test_a_layer_escaping_the_root_is_refused_by_name_and_nothing_is_written(daemon: Daemon, tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    rootfs_tar(archive, escape=True)
    lines = stream_lines(daemon, "/v1/images/import", {"path": str(archive), "format": "rootfs", "name": "evil:1"})
    result = lines[-1]["result"]
    assert result["status"] == "error", result
    assert "../../escaped" in result["message"], result
    assert not (tmp_path.parent.parent / "escaped").exists()
    assert not Path(daemon.state_dir, "escaped").exists()


def test_import_through_the_cli_prints_the_digest(daemon: Daemon, tmp_path: Path) -> None:
    archive = tmp_path / "cli.tar"
    rootfs_tar(archive)
    cp = run_cli(["import", str(archive), "--format", "rootfs", "--name", "cli:1"], host=f"unix://{daemon.sock}", timeout=120)
    assert cp.returncode == 0, cp
    assert "sha256:" in cp.stdout, cp
    cp = run_cli(["import", str(tmp_path / "missing.tar"), "--format", "rootfs", "--name", "x:1"], host=f"unix://{daemon.sock}")
    assert cp.returncode != 0 and "missing.tar" in cp.stderr, cp


def test_pull_from_an_unreachable_registry_fails_clearly(daemon: Daemon) -> None:
    lines = stream_lines(daemon, "/v1/images/pull", {"reference": "127.0.0.1:1/nothing:1", "insecure": True})
    result = lines[-1]["result"]
    assert result["status"] == "error", result
    assert "127.0.0.1:1/nothing" in result["message"], result
