#!/usr/bin/env python3
"""Corral's container start benchmark (not a test): Corral vs crun vs podman.

One run, one busybox rootfs (the one Corral unpacks for its own `busybox` image),
two workloads: `/bin/true` (start -> exited) and `/bin/sleep 3600` (start -> running).
The samples are interleaved: each round takes one sample of every tool, in an order
shuffled anew each round (seeded), so a busy host weighs on all tools alike and no
tool always follows the same other one.

1. Corral: a corrald (release build: $CORRAL_BIN_DIR, default .build/release) on a
   temp state dir and cgroup parent, inside a network namespace this script makes
   (`nsenter --net=`; `ip netns exec` would remount /sys and hide the cgroups).
   - sleep: POST /v1/instances {"driver":"container","image":"busybox", autostart,
     timeout_s}: the answer comes when the container runs;
   - true: the same POST, then GET /v1/instances/{id}/wait?state=stopped;
   each deleted (untimed) before the next sample. Also reported: the server's
   op_time_us and the instance's boot_time_us (start request -> crun init started).
2. crun on a prepared bundle: a copy of Corral's unpacked rootfs, config.json from
   `crun spec` (terminal false, the args, read-only root, its own empty network
   namespace, a cgroupsPath under a parent of ours), a private `--root` and
   `--cgroup-manager=cgroupfs`. `crun run --detach` -> running (sleep) and `crun run`
   -> exited (true); `crun delete -f` after each, untimed. crun 1.8.1 refuses hybrid
   cgroup hosts (a cgroup2 mount beside the v1 controllers), so there crun runs in a
   private mount namespace without that mount:
     a. per run, in the child before exec: unshare(CLONE_NEWNS), / MS_REC|MS_SLAVE,
        umount2(MNT_DETACH): what corral-shim does before it execs crun -- the fair
        comparison, Corral pays exactly this;
     b. per run, `unshare -m sh -c 'umount …; exec crun …'`: the shell workaround,
        three more execs than Corral pays;
     c. every run inside one namespace made once: crun with no workaround cost;
     d. like a, with the config.json Corral generated for its own container (its
        seccomp profile, cgroup namespace, limits, masked paths, /etc binds) but a
        fresh empty network namespace: what Corral's spec costs crun.
   Each wrapper's own cost is measured around `/bin/true`.
3. podman (Debian's): `run --rm` (true) and `run -d` (sleep; `rm -f -t 0` after,
   untimed); private --root/--runroot/--tmpdir, overlay storage, the image
   `podman import`ed from the same rootfs, `--network none`, `--cgroup-manager
   cgroupfs --events-backend file` and the ulimits root needs here (it lacks
   CAP_SYS_RESOURCE). Its crun meets the same hybrid-host refusal, so podman runs
   in one private mount namespace made once (its best case). A podman that is
   missing or cannot run is reported, and the rest goes on.
4. After the rounds, a diagnostic: Corral sleep starts with no delete in between
   (all deleted at the end), to see what a delete leaves the next start to pay.
5. A table: p50/p99, Corral/crun a (goal <= 1.2x) and podman/Corral (goal >= 3x),
   whether the goals are met, and where Corral's time goes. Everything made is
   removed: instances, daemon, netns, crun containers, podman containers and image,
   cgroups, mounts, temp dirs. Bounded by --max-seconds.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("CORRAL_BIN_DIR", str(REPO / ".build" / "release"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
sys.dont_write_bytecode = True

from bench import bench_daemon, log, percentile  # noqa: E402

SLEEP = ["/bin/sleep", "3600"]
TRUE = ["/bin/true"]
WORKLOADS = {"sleep": SLEEP, "true": TRUE}
CRUN_GOAL = 1.2  # Corral p50 <= 1.2 x crun p50
PODMAN_GOAL = 3.0  # podman p50 >= 3 x Corral p50
PODMAN_FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--network", "none"]
PODMAN_IMAGE = "localhost/corral-bench-busybox:bench"
CMD_TIMEOUT_S = 60.0

# --------------------------------------------------------------------------- #
# A private mount namespace without the cgroup2 mount (crun refuses hybrid hosts)
# --------------------------------------------------------------------------- #

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_SLAVE = 1 << 19
MNT_DETACH = 2
EINVAL, ENOENT = 22, 2
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def hybrid_unified_mounts() -> list[str]:
    """cgroup2 mounts beside v1 hierarchies (the layout crun 1.8 refuses)."""
    v1, v2 = False, []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype = right.split()[0] if right else ""
        if fstype == "cgroup":
            v1 = True
        elif fstype == "cgroup2":
            v2.append(left.split()[4])
    return v2 if v1 else []


def private_mounts_preexec(hidden: list[str]) -> Callable[[], None] | None:
    """A preexec_fn doing what corral-shim does before it execs crun."""
    if not hidden:
        return None
    paths = [h.encode() for h in hidden]

    def enter() -> None:
        if _libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        if _libc.mount(None, b"/", None, MS_REC | MS_SLAVE, None) != 0:
            raise OSError(ctypes.get_errno(), "mount / MS_REC|MS_SLAVE")
        for p in paths:
            if _libc.umount2(p, MNT_DETACH) != 0 and ctypes.get_errno() not in (EINVAL, ENOENT):
                raise OSError(ctypes.get_errno(), f"umount2 {p.decode()}")

    return enter


def shell_wrap(hidden: list[str], argv: list[str]) -> list[str]:
    """The shell workaround: `unshare -m sh -c 'umount …; exec "$@"' sh argv…`."""
    if not hidden:
        return argv
    umounts = "; ".join(f"umount {h}" for h in hidden)
    return ["unshare", "-m", "sh", "-c", f'{umounts}; exec "$@"', "sh", *argv]


# --------------------------------------------------------------------------- #
# Timed commands, here and in the worker
# --------------------------------------------------------------------------- #


def run_cmd(argv: list[str], errfile: Path, preexec: Callable[[], None] | None = None,
            timeout: float = CMD_TIMEOUT_S) -> tuple[float, int]:
    """Runs argv to its exit: (elapsed ms, exit status). stdout is /dev/null, so a
    detached container never holds a pipe of ours open."""
    with open(errfile, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             preexec_fn=preexec, close_fds=True)
        # A blocking wait: Popen.wait(timeout=) polls with growing sleeps, which
        # would quantise the samples; a timer kills a command that hangs instead.
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            rc = p.wait()
        finally:
            timer.cancel()
        ms = (time.perf_counter() - t0) * 1000
    if rc == -signal.SIGKILL and ms >= timeout * 1000:
        raise RuntimeError(f"{' '.join(argv)[:200]}: no exit after {timeout:.0f}s")
    return ms, rc


def err_tail(errfile: Path) -> str:
    try:
        return errfile.read_text(errors="replace")[-800:].strip()
    except OSError:
        return ""


def worker_main(workdir: str) -> int:
    """Serves timed commands, one JSON line each way, from inside the private
    mount namespace its parent made for it once (everything it runs inherits it)."""
    errfile = Path(workdir) / "worker-stderr"
    for line in sys.stdin:
        req = json.loads(line)
        try:
            ms, rc = run_cmd(req["cmd"], errfile, None, req.get("timeout", CMD_TIMEOUT_S))
            resp: dict[str, Any] = {"ms": ms, "rc": rc, "err": err_tail(errfile) if rc != 0 else ""}
            for after in req.get("after") or []:
                run_cmd(after, errfile, None)
        except Exception as e:  # noqa: BLE001 - reported to the parent
            resp = {"error": str(e)}
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()
    return 0


class Worker:
    def __init__(self, work: Path, hidden: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(work)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(work / "worker-log", "wb"), text=True,
            preexec_fn=private_mounts_preexec(hidden),
        )
        self.lock = threading.Lock()

    def run(self, cmd: list[str], after: list[list[str]] | None = None, timeout: float = CMD_TIMEOUT_S) -> tuple[float, int, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            self.proc.stdin.write(json.dumps({"cmd": cmd, "after": after or [], "timeout": timeout}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker exited ({self.proc.poll()})")
        resp = json.loads(line)
        if resp.get("error"):
            raise RuntimeError(resp["error"])
        return resp["ms"], resp["rc"], resp["err"]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- #
# The tools, one sample at a time
# --------------------------------------------------------------------------- #


@dataclass
class Tool:
    key: str  # e.g. "corral/sleep"
    sample: Callable[[int], float]  # one timed run (number i), its own cleanup untimed
    optional: bool = False
    times: list[float] = field(default_factory=list)
    dead: str | None = None


def command_tool(key: str, cmd: Callable[[int], list[str]], after: Callable[[int], list[list[str]]],
                 runner: Callable[[list[str], list[list[str]]], tuple[float, int, str]], optional: bool = False) -> Tool:
    def sample(i: int) -> float:
        argv = cmd(i)
        ms, rc, err = runner(argv, after(i))
        if rc != 0:
            raise RuntimeError(f"{key}: {' '.join(argv)[:300]} exited {rc}: {err}")
        return ms

    return Tool(key, sample, optional)


def local_runner(errfile: Path, preexec: Callable[[], None] | None,
                 wrap: Callable[[list[str]], list[str]] = lambda a: a) -> Callable[..., tuple[float, int, str]]:
    def run(argv: list[str], afters: list[list[str]]) -> tuple[float, int, str]:
        ms, rc = run_cmd(wrap(argv), errfile, preexec)
        err = err_tail(errfile) if rc != 0 else ""
        for a in afters:
            run_cmd(wrap(a), errfile, preexec)
        return ms, rc, err

    return run


# --------------------------------------------------------------------------- #
# Corral
# --------------------------------------------------------------------------- #


class Corral:
    def __init__(self, args: argparse.Namespace, cleanup: list[Callable[[], None]], label: str = "corral",
                 extra_args: list[str] | None = None) -> None:
        self.wait_s = args.wait_s
        self.label = label
        self.daemon, self.client = bench_daemon(
            "corral-bc", cleanup, log_level=args.log_level, extra_args=extra_args or [], timeout_s=120.0)
        self.op: dict[str, list[float]] = {"sleep": [], "true": []}
        self.boot: dict[str, list[float]] = {"sleep": [], "true": []}
        self.recording = False

    def create(self, name: str, args: list[str], wait_s: int) -> tuple[dict[str, Any], dict[str, Any]]:
        body = {"name": name, "driver": "container", "image": "busybox", "args": args,
                "autostart": True, "timeout_s": wait_s}
        r = self.client.post("/v1/instances", content=json.dumps(body).encode(),
                             headers={"content-type": "application/json"}, timeout=wait_s + 30)
        if not r.is_success:
            raise RuntimeError(f"create {name}: HTTP {r.status_code}: {r.text[:600]}")
        env = r.json()
        return ((env.get("data") or {}).get("instances") or [{}])[0], env

    def get(self, ident: str) -> dict[str, Any] | None:
        r = self.client.get(f"/v1/instances/{ident}", timeout=30)
        if r.status_code == 404:
            return None
        if not r.is_success:
            raise RuntimeError(f"get {ident}: HTTP {r.status_code}: {r.text[:300]}")
        items = (r.json().get("data") or {}).get("instances") or []
        return items[0] if items and items[0].get("status") != "error" else None

    def delete(self, uuid: str) -> None:
        """Deletes; corrald answers once every host resource is gone. Then waits
        for the container driver's standbys to be ready again, so preparing them
        never overlaps another tool's sample."""
        r = self.client.delete(f"/v1/instances/{uuid}", timeout=60)
        if not r.is_success and r.status_code != 404:
            raise RuntimeError(f"delete {uuid}: HTTP {r.status_code}: {r.text[:300]}")
        for _ in range(500):
            if self.get(uuid) is None:
                break
            time.sleep(0.02)
        else:
            raise RuntimeError(f"instance {uuid} still listed 10s after its delete")
        self.wait_standbys()

    def standby(self) -> dict[str, Any] | None:
        r = self.client.get("/v1/drivers", timeout=30)
        r.raise_for_status()
        for d in (r.json().get("data") or {}).get("drivers") or []:
            if d.get("name") == "container":
                return d.get("standby")
        return None

    def wait_standbys(self) -> None:
        for _ in range(500):
            s = self.standby()
            if not s or s.get("per_image", 0) == 0 or (s.get("preparing") == 0 and s.get("ready", 0) >= 1):
                return
            time.sleep(0.02)
        raise RuntimeError(f"{self.label}: no standby ready 10s after a start: {self.standby()}")

    def start_sleep(self, name: str, wait_s: int | None = None) -> tuple[float, dict[str, Any]]:
        t0 = time.perf_counter()
        inst, env = self.create(name, SLEEP, wait_s or self.wait_s)
        ms = (time.perf_counter() - t0) * 1000
        if inst.get("state") != "running":
            raise RuntimeError(f"create {name} answered before running: {json.dumps(inst)[:600]}")
        self.note("sleep", inst, env)
        return ms, inst

    def run_true(self, name: str, wait_s: int | None = None) -> tuple[float, dict[str, Any]]:
        wait_s = wait_s or self.wait_s
        t0 = time.perf_counter()
        inst, env = self.create(name, TRUE, wait_s)
        uuid = inst.get("uuid")
        if not uuid:
            raise RuntimeError(f"create {name}: no uuid: {json.dumps(inst)[:600]}")
        r = self.client.get(f"/v1/instances/{uuid}/wait", params={"state": "stopped", "timeout_ms": wait_s * 1000},
                            timeout=wait_s + 30)
        ms = (time.perf_counter() - t0) * 1000
        if not r.is_success:
            raise RuntimeError(f"wait {name} stopped: HTTP {r.status_code}: {r.text[:600]}")
        final = self.get(uuid) or {}
        if final.get("state") != "stopped" or (final.get("start_count") or 0) < 1 or final.get("exit_code") not in (0, None):
            raise RuntimeError(f"{name} did not run to a clean exit: {json.dumps(final)[:600]}")
        if not isinstance(inst.get("boot_time_us"), int):
            inst["boot_time_us"] = final.get("boot_time_us")
        self.note("true", inst, env)
        return ms, inst

    def note(self, wl: str, inst: dict[str, Any], env: dict[str, Any]) -> None:
        if not self.recording:
            return
        if isinstance(env.get("op_time_us"), int):
            self.op[wl].append(env["op_time_us"] / 1000)
        if isinstance(inst.get("boot_time_us"), int):
            self.boot[wl].append(inst["boot_time_us"] / 1000)

    def tools(self) -> list[Tool]:
        def sleep(i: int) -> float:
            ms, inst = self.start_sleep(f"b-sleep-{i}")
            self.delete(inst["uuid"])
            return ms

        def true(i: int) -> float:
            ms, inst = self.run_true(f"b-true-{i}")
            self.delete(inst["uuid"])
            return ms

        return [Tool(f"{self.label}/sleep", sleep), Tool(f"{self.label}/true", true)]

    def unpacked_rootfs(self) -> Path:
        roots = [r for r in sorted((self.daemon.state_dir / "images" / "rootfs").glob("*/")) if (r / "bin").exists()]
        if not roots:
            raise RuntimeError(f"no unpacked rootfs under {self.daemon.state_dir / 'images' / 'rootfs'}")
        return roots[0]

    def config_of(self, uuid: str) -> dict[str, Any] | None:
        for cfg in (self.daemon.state_dir / "instances" / uuid).glob("**/config.json"):
            try:
                return json.loads(cfg.read_text())
            except (OSError, ValueError):
                return None
        return None


# --------------------------------------------------------------------------- #
# crun bundles
# --------------------------------------------------------------------------- #


def spec_bundle(bundle: Path, rootfs: Path, argv: list[str], cgroups_path: str) -> None:
    """A bundle from `crun spec`: terminal false, argv, read-only root, the spec's
    own namespaces (a fresh empty network namespace among them)."""
    bundle.mkdir(parents=True)
    subprocess.run(["crun", "spec"], cwd=bundle, check=True, capture_output=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = argv
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    cfg["hostname"] = "bench"
    cfg["linux"]["cgroupsPath"] = cgroups_path
    (bundle / "config.json").write_text(json.dumps(cfg, indent=1))


def corral_spec_bundle(bundle: Path, rootfs: Path, argv: list[str], cgroups_path: str, corral_cfg: dict[str, Any]) -> None:
    """A bundle with the config.json Corral generated (seccomp, limits, cgroup
    namespace, masked paths, /etc binds), pointed at our rootfs, our cgroup, and a
    fresh empty network namespace instead of Corral's bridged one."""
    bundle.mkdir(parents=True)
    cfg = json.loads(json.dumps(corral_cfg))
    cfg["process"]["args"] = argv
    cfg["process"]["terminal"] = False
    cfg["root"] = {"path": str(rootfs), "readonly": bool((corral_cfg.get("root") or {}).get("readonly"))}
    cfg["linux"]["cgroupsPath"] = cgroups_path
    cfg["linux"]["namespaces"] = [{"type": n["type"]} for n in cfg["linux"].get("namespaces", [])]
    for m in cfg.get("mounts", []):
        if m.get("type") == "bind" and m.get("source", "").startswith("/") and not Path(m["source"]).is_dir():
            local = bundle / Path(m["source"]).name
            try:
                shutil.copyfile(m["source"], local)
            except OSError:
                local.write_text("")
            m["source"] = str(local)
    (bundle / "config.json").write_text(json.dumps(cfg, indent=1))


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #


def pct(values: list[float], q: float) -> float | None:
    return percentile(values, q) if values else None


def fmt(v: float | None, w: int = 11) -> str:
    return f"{'n/a':>{w}}" if v is None else f"{v:>{w}.2f}"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b <= 0 else f"{a / b:.2f}x"


def diff(a: float | None, b: float | None) -> str:
    return f"{'n/a':>11}" if a is None or b is None else f"{a - b:>+11.2f}"


def report(res: dict[str, Any], hidden: list[str], started: float) -> bool:
    times: dict[str, list[float]] = res["times"]
    W = 70
    crun_version = subprocess.run(["crun", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print()
    print(f"Corral container start benchmark, binaries from {os.environ['CORRAL_BIN_DIR']}")
    print(f"rootfs: Corral's unpacked busybox image ({res.get('image', '?')}); {crun_version}; host: "
          + (f"hybrid cgroups, crun runs with {', '.join(hidden)} hidden" if hidden else "no hybrid cgroup mount"))
    print(f"samples interleaved, order shuffled each round ({res.get('rounds', 0)} measured rounds after {res.get('warmup', 0)} "
          f"warm-up); nproc {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    met_all = True
    for wl, what in (("sleep", "/bin/sleep 3600: start -> running"), ("true", "/bin/true: start -> exited")):
        c = times.get(f"corral/{wl}") or []
        a = times.get(f"crun-a/{wl}") or []
        d = times.get(f"crun-d/{wl}") or []
        pm = times.get(f"podman/{wl}") or []
        op, boot = res["corral_op"].get(wl) or [], res["corral_boot"].get(wl) or []
        print()
        print(f"{what:{W}}{'n':>5}{'p50 ms':>11}{'p99 ms':>11}")
        cold = times.get(f"corral-cold/{wl}") or []
        cop, cboot = res["cold_op"].get(wl) or [], res["cold_boot"].get(wl) or []
        what_corral = ("POST /v1/instances (autostart, timeout_s) -> running" if wl == "sleep"
                       else "POST /v1/instances + GET /wait?state=stopped")
        rows = [
            (f"corral (a standby, the default): {what_corral}", c),
            ("  server op_time_us of the POST", op),
            ("  instance boot_time_us (start request -> command exec'd)", boot),
            ("corral --standbys 0 (every start cold)", cold),
            ("  server op_time_us of the POST", cop),
            ("  instance boot_time_us (start request -> crun init started)", cboot),
        ]
        if wl == "sleep" and res.get("nodelete"):
            rows.append(("  diagnostic: cold corral with no delete between starts", res["nodelete"]))
            rows.append(("    its boot_time_us", res.get("nodelete_boot") or []))
        rows += [
            ("crun a: per-run unshare+umount in the child (as corral-shim; FAIR)", a),
            ("crun b: per-run `unshare -m sh -c 'umount …; exec crun …'`", times.get(f"crun-b/{wl}") or []),
            ("crun c: all runs in one private mount ns (no workaround cost)", times.get(f"crun-c/{wl}") or []),
            ("crun d: as a, with Corral's own config.json (fresh empty netns)", d),
            ("podman run " + ("-d" if wl == "sleep" else "--rm") + " (in one private mount ns made once)", pm),
        ]
        for label, vals in rows:
            print(f"{label:{W}}{len(vals):>5}{fmt(pct(vals, 50))}{fmt(pct(vals, 99))}")
        c50, c99, a50, a99 = pct(c, 50), pct(c, 99), pct(a, 50), pct(a, 99)
        b50, cc50 = pct(times.get(f"crun-b/{wl}") or [], 50), pct(times.get(f"crun-c/{wl}") or [], 50)
        m50, m99 = pct(pm, 50), pct(pm, 99)
        print(f"{'ratio corral / crun a (fair)                      p50, p99':{W}}{'':>5}{ratio(c50, a50):>11}{ratio(c99, a99):>11}")
        print(f"{'ratio corral --standbys 0 / crun a                p50, p99':{W}}{'':>5}"
              f"{ratio(pct(cold, 50), a50):>11}{ratio(pct(cold, 99), a99):>11}")
        print(f"{'ratio corral / crun b, corral / crun c            p50':{W}}{'':>5}{ratio(c50, b50):>11}{ratio(c50, cc50):>11}")
        print(f"{'ratio podman / corral                             p50, p99':{W}}{'':>5}{ratio(m50, c50):>11}{ratio(m99, c99):>11}")
        crun_met = c50 is not None and a50 is not None and c50 <= CRUN_GOAL * a50
        pod_met = None if (m50 is None or c50 is None) else m50 >= PODMAN_GOAL * c50
        met_all = met_all and crun_met and pod_met is not False
        print(f"{f'goal: corral p50 <= {CRUN_GOAL}x crun a p50':{W}}{'':>5}{'met' if crun_met else 'MISSED':>11}")
        print(f"{f'goal: podman p50 >= {PODMAN_GOAL:.0f}x corral p50':{W}}{'':>5}"
              f"{('n/a' if pod_met is None else 'met' if pod_met else 'MISSED'):>11}")
        print(f"{'where a cold corral start goes (differences of p50s, ms):':{W}}")
        print(f"{'  end to end - server op_time (HTTP, client' + (', the /wait call)' if wl == 'true' else ')'):{W}}"
              f"{'':>5}{diff(pct(cold, 50), pct(cop, 50))}")
        print(f"{'  op_time - boot_time (API, engine, store)':{W}}{'':>5}{diff(pct(cop, 50), pct(cboot, 50))}")
        print(f"{'  boot_time - crun d (driver: overlay, netns+veth, bundle, shim)':{W}}{'':>5}"
              f"{diff(pct(cboot, 50), pct(d, 50))}")
        print(f"{'  crun d - crun a (Corral spec: seccomp, cgroupns, limits)':{W}}{'':>5}{diff(pct(d, 50), a50)}")
        if wl == "true":
            print(f"{'  (boot_time ends when init starts: a and d also include the exit)':{W}}")
    sp = {k: times.get(f"spawn/{k}") or [] for k in ("bare", "a", "b")}
    if any(sp.values()):
        print()
        print(f"{'wrapper costs, around /bin/true spawned from Python':{W}}{'n':>5}{'p50 ms':>11}{'p99 ms':>11}")
        for key, label in (("bare", "bare /bin/true"), ("a", "a: unshare+umount in the child, then /bin/true"),
                           ("b", "b: unshare -m sh -c 'umount …; exec /bin/true'")):
            print(f"{label:{W}}{len(sp[key]):>5}{fmt(pct(sp[key], 50))}{fmt(pct(sp[key], 99))}")
        bare50 = pct(sp["bare"], 50)
        print(f"{'wrapper a cost (p50 - bare p50)':{W}}{'':>5}{diff(pct(sp['a'], 50), bare50)}")
        print(f"{'wrapper b cost (p50 - bare p50)':{W}}{'':>5}{diff(pct(sp['b'], 50), bare50)}")
    print()
    if res.get("podman_skip"):
        print(f"podman: {res['podman_skip']}")
    elif res.get("podman_version"):
        print(f"podman: {res['podman_version']} ({res.get('podman_info') or '?'}), {' '.join(PODMAN_FLAGS)} "
              "--cgroup-manager cgroupfs --events-backend file")
    print("The fair crun is a: corral-shim makes the same private mount namespace in-process before it execs "
          "crun.\nb flatters Corral (three extra execs per run), c is crun with no workaround at all. Corral also "
          "mounts\nan overlay per instance and gives each container a veth on its bridge; crun's bundle is prepared "
          "once.")
    print(f"\ntotal bench time {time.monotonic() - started:.0f}s")
    return met_all


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60, help="measured rounds (>= 50 for a real run)")
    ap.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first")
    ap.add_argument("--wait-s", type=int, default=60, help="timeout_s of each Corral create")
    ap.add_argument("--max-seconds", type=float, default=420, help="overall bound")
    ap.add_argument("--log-level", default="warning", help="corrald --log-level")
    ap.add_argument("--seed", type=int, default=1, help="seed of the per-round shuffle of the tools")
    ap.add_argument("--no-podman", action="store_true", help="leave podman out")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = ap.parse_args()
    if args.n < 1 or args.warmup < 1:
        ap.error("--n and --warmup must be positive")

    from corral_testlib import binary, host_skip_reason, kill_leftovers, remove_cgroup_parent

    started = time.monotonic()
    deadline = started + args.max_seconds
    reason = host_skip_reason()
    if reason is not None:
        log(f"bench: cannot run here: {reason}")
        return 2
    missing = [t for t in ("crun", "umoci", "skopeo", "ip", "nsenter", "unshare", "tar") if shutil.which(t) is None]
    if missing or not Path("/bin/busybox").exists():
        log(f"bench: missing {', '.join(missing) or '/bin/busybox (busybox-static)'} (make test installs them)")
        return 2
    try:
        binary("corrald"), binary("corral-shim")
    except FileNotFoundError as e:
        log(f"bench: {e} (build with `swift build -c release`)")
        return 2

    hidden = hybrid_unified_mounts()
    work = Path(tempfile.mkdtemp(prefix="corral-bc-", dir="/tmp"))
    cleanup: list[Callable[[], None]] = []
    res: dict[str, Any] = {"times": {}, "corral_op": {}, "corral_boot": {}}
    tag = secrets.token_hex(4)
    cg = f"corral-bench-crun-{tag}"
    pcg = f"corral-bench-podman-{tag}"
    crun_root = work / "crun-state"
    crun_base = ["crun", f"--root={crun_root}", "--cgroup-manager=cgroupfs"]
    try:
        # ---- Corral, warmed up: the first create builds the busybox image ----
        corral = Corral(args, cleanup)
        log("bench: corral warm-up (the first create builds the busybox image) ...")
        _, inst = corral.start_sleep("warm-sleep", 120)
        rootfs_src = corral.unpacked_rootfs()
        res["image"] = inst.get("image")
        corral_cfg = corral.config_of(inst["uuid"])
        corral.delete(inst["uuid"])
        _, inst = corral.run_true("warm-true", 120)
        corral.delete(inst["uuid"])
        res["standby"] = corral.standby()
        # The same daemon with no standbys: every start takes the whole cold path.
        cold = Corral(args, cleanup, label="corral-cold", extra_args=["--standbys", "0"])
        for wl in WORKLOADS:
            _, inst = (cold.start_sleep if wl == "sleep" else cold.run_true)(f"warm-{wl}", 120)
            cold.delete(inst["uuid"])
        rootfs = work / "rootfs"
        subprocess.run(["cp", "-a", str(rootfs_src), str(rootfs)], check=True)

        # ---- crun bundles and runners ----
        def crun_cleanup() -> None:
            pre = private_mounts_preexec(hidden)
            if crun_root.is_dir():
                for cid in os.listdir(crun_root):
                    subprocess.run(crun_base + ["delete", "--force", cid], capture_output=True, preexec_fn=pre, timeout=30)
            stuck = remove_cgroup_parent(cg)
            if stuck:
                log("bench: crun cleanup: cgroups left: " + ", ".join(map(str, stuck)))

        cleanup.append(crun_cleanup)
        for wl, argv in WORKLOADS.items():
            for v in "abc":
                spec_bundle(work / f"bundle-{v}-{wl}", rootfs, argv, f"/{cg}/{v}-{wl}")
            if corral_cfg:
                corral_spec_bundle(work / f"bundle-d-{wl}", rootfs, argv, f"/{cg}/d-{wl}", corral_cfg)
        worker = Worker(work, hidden)
        cleanup.append(worker.close)
        pre = private_mounts_preexec(hidden)
        runners = {
            "a": local_runner(work / "err-a", pre),
            "b": local_runner(work / "err-b", None, lambda a: shell_wrap(hidden, a)),
            "c": worker.run,
            "d": local_runner(work / "err-d", pre),
        }

        tools: list[Tool] = corral.tools() + cold.tools()
        for v in "abcd":
            if v == "d" and not corral_cfg:
                continue
            for wl in WORKLOADS:
                bundle = work / f"bundle-{v}-{wl}"
                detach = ["--detach"] if wl == "sleep" else []

                def cmd(i: int, bundle: Path = bundle, detach: list[str] = detach, v: str = v, wl: str = wl) -> list[str]:
                    return crun_base + ["run", *detach, f"--bundle={bundle}", f"cb-{v}-{wl}-{i}"]

                def after(i: int, v: str = v, wl: str = wl) -> list[list[str]]:
                    return [crun_base + ["delete", "--force", f"cb-{v}-{wl}-{i}"]]

                tools.append(command_tool(f"crun-{v}/{wl}", cmd, after, runners[v]))
        for key, argv, run in (("bare", TRUE, local_runner(work / "err-s", None)), ("a", TRUE, runners["a"]),
                               ("b", TRUE, runners["b"])):
            tools.append(command_tool(f"spawn/{key}", lambda i, argv=argv: argv, lambda i: [], run))

        # ---- podman ----
        podman = shutil.which("podman")
        if args.no_podman:
            res["podman_skip"] = "left out (--no-podman)"
        elif podman is None:
            res["podman_skip"] = "not installed (Debian: apt-get install -y podman); left out"
        else:
            pdir = work / "podman"
            for d in ("root", "run", "tmp"):
                (pdir / d).mkdir(parents=True)
            pbase = [podman, "--root", str(pdir / "root"), "--runroot", str(pdir / "run"), "--tmpdir",
                     str(pdir / "tmp"), "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
                     "--events-backend", "file"]
            prun = pbase + ["run", "--cgroup-parent", f"/{pcg}", *PODMAN_FLAGS]

            def podman_cleanup() -> None:
                if worker.proc.poll() is None:
                    for argv in (pbase + ["rm", "--all", "--force", "--time", "0"], pbase + ["rmi", "--all", "--force"],
                                 pbase + ["system", "reset", "--force"]):
                        try:
                            worker.run(argv, timeout=120)
                        except Exception as e:  # noqa: BLE001 - cleanup goes on
                            log(f"bench: podman cleanup: {' '.join(argv[-3:])}: {e}")
                killed = kill_leftovers(pcg, [str(pdir)], exclude=[worker.proc.pid])
                if killed:
                    log("bench: podman cleanup: killed " + "; ".join(killed))
                stuck = remove_cgroup_parent(pcg)
                if stuck:
                    log("bench: podman cleanup: cgroups left: " + ", ".join(map(str, stuck)))

            cleanup.append(podman_cleanup)
            res["podman_version"] = subprocess.run([podman, "--version"], capture_output=True, text=True).stdout.strip()
            tarball = work / "rootfs.tar"
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
            try:
                _, rc, err = worker.run(pbase + ["import", str(tarball), PODMAN_IMAGE], timeout=180)
                if rc != 0:
                    raise RuntimeError(f"podman import exited {rc}: {err}")
                info = subprocess.run(pbase + ["info", "--format", "runtime {{.Host.OCIRuntime.Name}}, storage "
                                               "{{.Store.GraphDriverName}}"], capture_output=True, text=True,
                                      preexec_fn=pre, timeout=60)
                res["podman_info"] = info.stdout.strip()
                tools.append(command_tool(
                    "podman/sleep", lambda i: prun + ["-d", "--name", f"cb-sleep-{i}", PODMAN_IMAGE, *SLEEP],
                    lambda i: [pbase + ["rm", "--force", "--time", "0", f"cb-sleep-{i}"]], worker.run, optional=True))
                tools.append(command_tool("podman/true", lambda i: prun + ["--rm", PODMAN_IMAGE, *TRUE],
                                          lambda i: [], worker.run, optional=True))
            except Exception as e:  # noqa: BLE001 - podman is optional
                res["podman_skip"] = f"could not run here: {e}"

        # ---- the rounds ----
        rounds_deadline = deadline - 45
        log(f"bench: {args.warmup} + {args.n} rounds of {len(tools)} samples each "
            f"({', '.join(t.key for t in tools)}) ...")
        measured = 0
        rng = random.Random(args.seed)
        for r in range(args.warmup + args.n):
            if time.monotonic() > rounds_deadline:
                log(f"bench: stopping after {measured} measured rounds: --max-seconds is near")
                break
            order = tools[:]
            rng.shuffle(order)
            for t in order:
                if t.dead:
                    continue
                corral.recording = cold.recording = r >= args.warmup
                try:
                    ms = t.sample(r)
                except Exception as e:
                    if not t.optional:
                        raise
                    t.dead = str(e)
                    res["podman_skip"] = f"could not run here: {e}"
                    continue
                if r >= args.warmup:
                    t.times.append(ms)
            measured += r >= args.warmup
            if (r + 1) % 10 == 0:
                log(f"bench: round {r + 1} done ({time.monotonic() - started:.0f}s)")
        corral.recording = cold.recording = False
        res["rounds"], res["warmup"] = measured, args.warmup
        res["times"] = {t.key: t.times for t in tools}
        res["corral_op"], res["corral_boot"] = corral.op, corral.boot
        res["cold_op"], res["cold_boot"] = cold.op, cold.boot

        # ---- diagnostic: Corral starts with no delete in between ----
        log("bench: diagnostic: corral sleep starts with no delete in between ...")
        nodelete: list[float] = []
        nodelete_boot: list[float] = []
        uuids = []
        for i in range(min(args.n, 50)):
            if time.monotonic() > deadline - 30:
                break
            ms, inst = cold.start_sleep(f"nd-{i}")
            nodelete.append(ms)
            if isinstance(inst.get("boot_time_us"), int):
                nodelete_boot.append(inst["boot_time_us"] / 1000)
            uuids.append(inst["uuid"])
        for u in uuids:
            cold.delete(u)
        res["nodelete"], res["nodelete_boot"] = nodelete, nodelete_boot

        met = report(res, hidden, started)
        return 1 if (args.strict and not met) else 0
    except Exception as e:  # noqa: BLE001 - report and clean up
        log(f"bench: failed: {e}")
        return 1
    finally:
        for fn in reversed(cleanup):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                log(f"bench: cleanup step failed: {e}")
        for parent in (cg, pcg):
            remove_cgroup_parent(parent)
        mounts = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()]
        for m in sorted((m for m in mounts if m.startswith(str(work))), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
