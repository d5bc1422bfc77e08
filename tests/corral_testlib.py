"""Helpers shared by Corral's system tests: a corrald under test, an API client
over its unix socket, and the /proc and cgroup probes the tests assert with.

Everything here talks only to the daemon's unix socket or to 127.0.0.1, and
every wait is bounded both in time and in the number of rounds.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import pty
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import httpx

REPO = Path(__file__).resolve().parent.parent
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: The v1 controllers corrald places every instance in.
V1_CONTROLLERS = ("memory", "cpu", "pids", "freezer")
#: How long a freshly started corrald may take to answer /v1/healthz.
READY_TIMEOUT_S = 20.0

T = TypeVar("T")


# --------------------------------------------------------------------------- #
# Host requirements and binaries
# --------------------------------------------------------------------------- #


def host_skip_reason() -> str | None:
    """Why these tests cannot run on this host, or None when they can.

    Only two things excuse a skip: not being root, and having no cgroups.
    A missing binary is a failure, never a skip.
    """
    if os.geteuid() != 0:
        return f"corrald system tests need root (running as uid {os.geteuid()})"
    v1 = all((CGROUP_ROOT / c).is_dir() for c in V1_CONTROLLERS)
    v2 = (CGROUP_ROOT / "cgroup.controllers").is_file()
    if not (v1 or v2):
        return f"no cgroup hierarchy under {CGROUP_ROOT} (neither v1 {V1_CONTROLLERS} nor v2)"
    return None


def bin_dir() -> Path:
    return Path(os.environ.get("CORRAL_BIN_DIR") or (REPO / ".build" / "debug")).resolve()


def binary(name: str) -> Path:
    path = bin_dir() / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(
            f"{path} is missing or not executable; build it first "
            f"(`swift build`), or point CORRAL_BIN_DIR at the built binaries"
        )
    return path


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child we start, without Corral/UKC/proxy settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CORRAL_", "UKC_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update(extra)
    return env


# --------------------------------------------------------------------------- #
# Bounded waiting
# --------------------------------------------------------------------------- #


class WaitTimeout(AssertionError):
    pass


def poll(
    probe: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call `probe` until it returns something truthy; bounded in time and rounds."""
    deadline = time.monotonic() + timeout
    rounds = max(1, int(timeout / interval) + 1) * 2
    last: Any = None
    for _ in range(rounds):
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}; last value: {last!r}")


# --------------------------------------------------------------------------- #
# /proc probes
# --------------------------------------------------------------------------- #


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a pid, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None
    rest = raw[raw.rfind(")") + 2 :].split()
    # rest[0] is field 3 (state); field 22 (starttime) is rest[19].
    return rest[0], int(rest[19])


def proc_start_time(pid: int) -> int | None:
    st = proc_stat(pid)
    return None if st is None else st[1]


def pid_alive(pid: int, start_time: int | None = None) -> bool:
    """Whether `pid` is a live (non-zombie) process, and the same one if a start time is given."""
    st = proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return False
    return start_time is None or st[1] == start_time


def proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def proc_ppid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_rss_kib(pid: int) -> int | None:
    """VmRSS of a process in KiB, from /proc/PID/status."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cgroups(pid: int) -> dict[str, str]:
    """controller -> cgroup path of a process (v1 lines, and '' for the v2 line)."""
    out: dict[str, str] = {}
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for ctrl in parts[1].split(",") if parts[1] else [""]:
            out[ctrl] = parts[2]
    return out


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def pids_in_cgroup_parent(parent: str) -> set[int]:
    """Every live process placed (in any hierarchy) under the cgroup parent `parent`."""
    found: set[int] = set()
    marker = f"/{parent}"
    for pid in all_pids():
        for path in proc_cgroups(pid).values():
            if path == marker or path.startswith(marker + "/"):
                if pid_alive(pid):
                    found.add(pid)
                break
    return found


# --------------------------------------------------------------------------- #
# cgroups
# --------------------------------------------------------------------------- #


def cgroup_hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy root (v1 controllers, named ones, and v2)."""
    roots: list[Path] = []
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        mounts = []
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and parts[2] in ("cgroup", "cgroup2"):
            roots.append(Path(parts[1]))
    if not roots and CGROUP_ROOT.is_dir():
        roots = [p for p in CGROUP_ROOT.iterdir() if p.is_dir()]
    return roots


def cgroup_dirs_under(parent: str) -> list[Path]:
    """Every cgroup directory below `parent` (not the parent itself), in every hierarchy."""
    found: list[Path] = []
    for root in cgroup_hierarchies():
        base = root / parent
        if not base.is_dir():
            continue
        for dirpath, dirnames, _ in os.walk(base):
            for d in dirnames:
                found.append(Path(dirpath) / d)
    return found


def instance_cgroup_dirs(parent: str, uuid: str) -> dict[str, Path]:
    """The v1 controller directories of one instance that exist right now."""
    return {
        c: CGROUP_ROOT / c / parent / uuid
        for c in V1_CONTROLLERS
        if (CGROUP_ROOT / c / parent / uuid).is_dir()
    }


def _thaw(parent: str) -> None:
    base = CGROUP_ROOT / "freezer" / parent
    if not base.is_dir():
        return
    for dirpath, _, files in os.walk(base):
        if "freezer.state" in files:
            try:
                Path(dirpath, "freezer.state").write_text("THAWED")
            except OSError:
                pass


def remove_cgroup_parent(parent: str, *, timeout: float = 10.0) -> list[Path]:
    """rmdir the cgroup parent and everything under it in every hierarchy.

    Returns what could not be removed.
    """
    deadline = time.monotonic() + timeout
    left: list[Path] = []
    for _ in range(100):
        left = []
        for root in cgroup_hierarchies():
            base = root / parent
            if not base.is_dir():
                continue
            for dirpath, _, _ in sorted(os.walk(base), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(Path(dirpath))
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return left


def kill_leftovers(parent: str, markers: Sequence[str], *, exclude: Iterable[int] = (), timeout: float = 10.0) -> list[str]:
    """SIGKILL every process of a test: those in its cgroup parent, and those whose
    command line mentions one of `markers` (its state directory, say).

    Returns a description of each process that had to be killed.
    """
    me = {os.getpid(), *exclude}
    killed: list[str] = []
    deadline = time.monotonic() + timeout
    for _ in range(200):
        _thaw(parent)
        victims = set(pids_in_cgroup_parent(parent))
        for pid in all_pids():
            if pid in me or not pid_alive(pid):
                continue
            cmd = proc_cmdline(pid)
            text = "\0".join(cmd)
            if any(m and m in text for m in markers):
                victims.add(pid)
        victims -= me
        if not victims:
            break
        for pid in victims:
            desc = f"{pid}: {' '.join(proc_cmdline(pid))[:200]}"
            if desc not in killed:
                killed.append(desc)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return killed


# --------------------------------------------------------------------------- #
# The API over the unix socket
# --------------------------------------------------------------------------- #


def is_uuid(value: str) -> bool:
    try:
        uuidlib.UUID(value)
        return True
    except ValueError:
        return False


def ref(ident: str) -> dict[str, str]:
    """The {uuid}/{name} body item for a name or a UUID."""
    return {"uuid": ident} if is_uuid(ident) else {"name": ident}


class ApiError(AssertionError):
    def __init__(self, response: httpx.Response, what: str) -> None:
        super().__init__(f"{what}: HTTP {response.status_code}: {response.text[:2000]}")
        self.response = response


class Api:
    """A thin, assertion-friendly client for corrald's /v1 API."""

    def __init__(self, client: httpx.Client) -> None:
        self.http = client

    def close(self) -> None:
        self.http.close()

    # raw
    def request(self, method: str, path: str, *, json_body: Any = None, content: bytes | None = None,
                params: Any = None, headers: dict[str, str] | None = None, timeout: float = 30.0) -> httpx.Response:
        hdrs = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body).encode()
            hdrs.setdefault("content-type", "application/json")
        return self.http.request(method, path, content=content, params=params, headers=hdrs, timeout=timeout)

    def ok(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        r = self.request(method, path, **kw)
        if not r.is_success:
            raise ApiError(r, f"{method} {path}")
        body = r.json()
        return body

    # instances
    def create(self, *, timeout: float = 30.0, **body: Any) -> dict[str, Any]:
        res = self.ok("POST", "/v1/instances", json_body=body, timeout=timeout)
        items = (res.get("data") or {}).get("instances") or []
        assert items, f"create answered no instance: {res}"
        return items[0]

    def run(self, name: str | None, args: list[str], *, wait_s: int = 15, **body: Any) -> dict[str, Any]:
        """Create with autostart and wait until running; returns the fresh record."""
        if name is not None:
            body["name"] = name
        item = self.create(args=args, autostart=True, timeout_s=wait_s, timeout=wait_s + 15, **body)
        assert item.get("uuid"), f"create answered without a uuid: {item}"
        return self.wait_state(item["uuid"], "running", timeout=wait_s)

    def get(self, ident: str) -> dict[str, Any] | None:
        r = self.request("GET", f"/v1/instances/{ident}", params={"details": "true"})
        if r.status_code == 404:
            return None
        if not r.is_success:
            raise ApiError(r, f"GET /v1/instances/{ident}")
        items = (r.json().get("data") or {}).get("instances") or []
        if not items or items[0].get("status") == "error":
            return None
        return items[0]

    def must_get(self, ident: str) -> dict[str, Any]:
        inst = self.get(ident)
        assert inst is not None, f"instance {ident} not found"
        return inst

    def list(self) -> list[dict[str, Any]]:
        res = self.ok("GET", "/v1/instances", params={"details": "true"})
        return list((res.get("data") or {}).get("instances") or [])

    def batch(self, method: str, path: str, items: list[dict[str, Any]], timeout: float = 30.0) -> httpx.Response:
        return self.request(method, path, json_body=items, timeout=timeout)

    def stop(self, ident: str, **opts: Any) -> dict[str, Any]:
        return self.ok("PUT", "/v1/instances/stop", json_body=[{**ref(ident), **opts}])

    def start(self, ident: str, **opts: Any) -> dict[str, Any]:
        return self.ok("PUT", "/v1/instances/start", json_body=[{**ref(ident), **opts}])

    def delete(self, ident: str, **opts: Any) -> dict[str, Any]:
        return self.ok("DELETE", "/v1/instances", json_body=[{**ref(ident), **opts}])

    def logs(self, ident: str, *, offset: int | None = None, limit: int | None = None) -> bytes:
        item: dict[str, Any] = ref(ident)
        if offset is not None:
            item["offset"] = offset
        if limit is not None:
            item["limit"] = limit
        res = self.ok("GET", "/v1/instances/log", json_body=[item])
        entry = res["data"]["instances"][0]
        return base64.b64decode(entry.get("output") or "")

    def wait_state(self, ident: str, states: str | Sequence[str], *, timeout: float = 15.0,
                   min_starts: int = 0) -> dict[str, Any]:
        """Poll until the instance is in one of `states` and has been started at
        least `min_starts` times (so that a not-yet-started `stopped` does not count)."""
        wanted = {states} if isinstance(states, str) else set(states)
        seen: dict[str, Any] = {}

        def probe() -> dict[str, Any] | None:
            inst = self.get(ident)
            seen["last"] = inst
            if inst is None or inst.get("state") not in wanted:
                return None
            return inst if (inst.get("start_count") or 0) >= min_starts else None

        try:
            return poll(probe, timeout=timeout, interval=0.05, what=f"{ident} to be {sorted(wanted)}")
        except WaitTimeout as e:
            raise WaitTimeout(f"{e}; last record: {json.dumps(seen.get('last'), default=str)[:1500]}") from None

    def wait_gone(self, ident: str, *, timeout: float = 15.0) -> None:
        poll(lambda: self.get(ident) is None, timeout=timeout, what=f"{ident} to be deleted")

    def delete_all(self, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Delete every instance and wait until the list is empty. Returns what is left."""
        deadline = time.monotonic() + timeout
        left: list[dict[str, Any]] = []
        for _ in range(50):
            left = self.list()
            if not left:
                return []
            items = [{"uuid": i["uuid"]} for i in left if i.get("uuid")]
            if items:
                self.request("DELETE", "/v1/instances", json_body=items, timeout=max(1.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        return left


def uds_client(sock: Path, *, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=str(sock)),
        base_url="http://corral",
        headers=headers or {},
        timeout=httpx.Timeout(30.0, connect=5.0),
        trust_env=False,
    )


def tcp_client(port: int, *, token: str | None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers=headers,
        timeout=httpx.Timeout(30.0, connect=5.0),
        trust_env=False,
    )


# --------------------------------------------------------------------------- #
# A corrald under test
# --------------------------------------------------------------------------- #


@dataclass
class Daemon:
    """One corrald with its own temp state dir, cgroup parent, TCP port and token."""

    workdir: Path
    tcp: bool = True
    log_level: str = "debug"
    cgroup_parent: str = field(default_factory=lambda: f"corral-test-{secrets.token_hex(4)}")
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = field(default_factory=free_tcp_port)
    proc: subprocess.Popen[bytes] | None = None
    #: Run corrald inside this network namespace (made and removed by the caller),
    #: so its bridge, veths and NAT never touch the host's own network.
    netns: str | None = None
    #: Further corrald options (driver settings).
    extra_args: list[str] = field(default_factory=list)
    starts: int = 0
    _api: Api | None = None

    @classmethod
    def fresh(cls, **kw: Any) -> "Daemon":
        # Short paths: a unix socket path must fit in 108 bytes.
        workdir = Path(tempfile.mkdtemp(prefix="corral-t-", dir="/tmp"))
        d = cls(workdir=workdir, **kw)
        d.state_dir.mkdir(mode=0o700)
        d.token_file.write_text(d.token + "\n")
        d.token_file.chmod(0o600)
        return d

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    @property
    def sock(self) -> Path:
        return self.state_dir / "corrald.sock"

    @property
    def token_file(self) -> Path:
        return self.workdir / "token"

    @property
    def log_path(self) -> Path:
        return self.workdir / "corrald.log"

    @property
    def tcp_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def argv(self) -> list[str]:
        # nsenter joins only the network namespace; `ip netns exec` would also remount
        # /sys for it, hiding the cgroup hierarchies.
        prefix = ["nsenter", f"--net=/run/netns/{self.netns}", "--"] if self.netns else []
        argv = prefix + [
            str(binary("corrald")),
            "--state-dir", str(self.state_dir),
            "--cgroup-parent", self.cgroup_parent,
            "--log-level", self.log_level,
        ]
        if self.tcp:
            argv += ["--listen", f"127.0.0.1:{self.port}", "--token-file", str(self.token_file)]
        return argv + self.extra_args

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, timeout: float = READY_TIMEOUT_S) -> None:
        assert not self.running(), "corrald is already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== corrald start #{self.starts}: {' '.join(self.argv())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(),
                start_new_session=True,
            )
        self._reset_api()
        self.wait_ready(timeout=timeout)

    def wait_ready(self, *, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last = "no attempt"
        for _ in range(int(timeout / 0.05) + 10):
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"corrald exited with {self.proc.returncode} before it was ready\n{self.log_tail()}"
                )
            if self.sock.exists():
                try:
                    with uds_client(self.sock) as c:
                        r = c.get("/v1/healthz", timeout=2.0)
                    if r.status_code == 200:
                        return
                    last = f"HTTP {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as e:
                    last = repr(e)
            else:
                last = f"{self.sock} does not exist yet"
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        raise AssertionError(f"corrald not ready after {timeout:.0f}s ({last})\n{self.log_tail()}")

    def terminate(self, *, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it will not go. Returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reset_api()
        return self.proc.returncode

    def kill9(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._reset_api()

    def restart(self, *, timeout: float = READY_TIMEOUT_S) -> None:
        """SIGTERM the daemon and start it again on the same state dir."""
        self.terminate()
        self.start(timeout=timeout)

    def _reset_api(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    @property
    def api(self) -> Api:
        """An API client over the unix socket, fresh for each daemon start."""
        if self._api is None:
            self._api = Api(uds_client(self.sock))
        return self._api

    def tcp_client(self, *, token: str | None = "__default__") -> httpx.Client:
        """A client for the TCP listener, with the daemon's token unless told otherwise."""
        return tcp_client(self.port, token=self.token if token == "__default__" else token)

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no corrald log)"
        return "----- corrald log (tail) -----\n" + "\n".join(text[-lines:])

    def instance_dir(self, uuid: str) -> Path:
        return self.state_dir / "instances" / uuid

    def teardown(self) -> list[str]:
        """Delete every instance, stop the daemon, kill what is left, remove
        cgroups and the temp dir. Returns notes about anything that leaked."""
        notes: list[str] = []
        try:
            if self.running():
                try:
                    left = self.api.delete_all(timeout=30)
                    if left:
                        notes.append(f"{len(left)} instance(s) could not be deleted through the API")
                except Exception as e:  # noqa: BLE001 - teardown must go on
                    notes.append(f"deleting instances failed: {e!r}")
            self.terminate()
        finally:
            self._reset_api()
            killed = kill_leftovers(self.cgroup_parent, [str(self.workdir)])
            if killed:
                notes.append("killed leftover processes: " + "; ".join(killed))
            stuck = remove_cgroup_parent(self.cgroup_parent)
            if stuck:
                notes.append("could not remove cgroups: " + ", ".join(map(str, stuck)))
            shutil.rmtree(self.workdir, ignore_errors=True)
        return notes


# --------------------------------------------------------------------------- #
# The CLI
# --------------------------------------------------------------------------- #


def run_cli(args: Sequence[str], *, host: str, token: str | None = None, timeout: float = 30.0,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    env = clean_env(CORRAL_HOST=host)
    if token is not None:
        env["CORRAL_TOKEN"] = token
    return subprocess.run(
        [str(binary("corral")), *args],
        env=env,
        input=input_text,
        stdin=None if input_text is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def describe(cp: subprocess.CompletedProcess[str]) -> str:
    return f"$ corral {' '.join(cp.args[1:])}\nexit {cp.returncode}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}"


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime (fractions beyond microseconds dropped)."""
    t = text.strip().replace("z", "Z")
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    m = re.match(r"^(.*?T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", t)
    if m:
        frac = (m.group(2) or "")[:7]
        t = m.group(1) + frac + m.group(3)
    dt = datetime.fromisoformat(t)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


# --------------------------------------------------------------------------- #
# Network namespaces and daemons inside them
# --------------------------------------------------------------------------- #


@contextmanager
def network_namespace(prefix: str = "corral-t") -> Iterator[str]:
    """A network namespace of the test's own (`<prefix>-<random>`), loopback up;
    deleted afterwards with whatever was made in it."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@contextmanager
def running_daemon(**kw: Any) -> Iterator[Daemon]:
    """A started `Daemon.fresh(**kw)`, torn down afterwards (leaks are printed)."""
    d = Daemon.fresh(**kw)
    try:
        d.start()
        yield d
    finally:
        for note in d.teardown():
            print("teardown:", note)


# --------------------------------------------------------------------------- #
# The CLI on a terminal
# --------------------------------------------------------------------------- #


class PtyCli:
    """`corral ARGS` with a fresh pseudo-terminal as its controlling terminal."""

    def __init__(self, args: list[str], *, env: dict[str, str], prefix: list[str] | None = None,
                 rows: int = 30, cols: int = 100) -> None:
        argv = [*(prefix or []), str(binary("corral")), *args]
        pid, fd = pty.fork()
        if pid == 0:  # the child: set the terminal's size, then become corral
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""
        self.status: int | None = None

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def expect(self, pattern: bytes, *, timeout: float = 15.0) -> re.Match[bytes]:
        """Reads until `pattern` matches the output seen since the last match."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output)
            if found:
                self.output = self.output[found.end():]
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not seen within {timeout}s; output: {self.output!r}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{pattern!r} not seen before the terminal closed; output: {self.output!r}")
                self.output += chunk

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def wait(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Keep reading so the child never blocks on a full terminal.
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
        self.kill()
        raise AssertionError(f"corral did not exit within {timeout}s; output: {self.output!r}")

    def terminal_settings(self) -> list:
        return termios.tcgetattr(self.fd)

    def kill(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.status = -9

    def close(self) -> None:
        self.kill()
        os.close(self.fd)
