#!/usr/bin/env python3
"""Corral's start-latency and memory benchmark (not a test).

1. Builds bench/floor.c with `cc` into a temp dir and runs it: the floor, i.e.
   fork+exec of `/bin/sleep 3600` up to the point exec has succeeded (a CLOEXEC
   pipe closes), N times, p50/p99.
2. Starts a corrald (release build: $CORRAL_BIN_DIR, default .build/release) on a
   temp state dir and its own cgroup parent, unix socket only, and measures
   create+start -> running through the API: POST /v1/instances with
   autostart=true and timeout_s, so the answer comes when the instance runs,
   one at a time, for --count (>= 200) instances; p50/p99.
3. Memory: corrald's idle VmRSS, its VmRSS at 0, 100, 200... running instances
   (growth per 100), and the per-instance corral-shim VmRSS.
4. Deletes everything, stops the daemon, removes what is left.

Goal: corral p50 <= floor p50 + 3 ms. Bounded by --max-seconds overall.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("CORRAL_BIN_DIR", str(REPO / ".build" / "release"))
sys.path.insert(0, str(REPO / "tests"))
sys.dont_write_bytecode = True

import httpx  # noqa: E402

from corral_testlib import (  # noqa: E402
    Daemon,
    binary,
    host_skip_reason,
    proc_cmdline,
    proc_ppid,
    proc_rss_kib,
)

GOAL_MS = 3.0
WORKLOAD = ["/bin/sleep", "3600"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (the same definition floor.c uses)."""
    s = sorted(values)
    rank = max(1, min(len(s), int(p / 100.0 * len(s) + 0.999999)))
    return s[rank - 1]


def bench_daemon(
    netns_prefix: str, cleanup: list[Any], *, log_level: str, extra_args: list[str], timeout_s: float,
) -> tuple[Daemon, httpx.Client]:
    """A corrald (tcp off) inside a network namespace of its own, and a client on its
    unix socket. Undoing both is appended to `cleanup` (run in reverse order)."""
    import secrets

    netns = f"{netns_prefix}-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    cleanup.append(lambda: subprocess.run(["ip", "netns", "del", netns], check=False))
    # corrald's bridge needs loopback up in its namespace.
    subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
    daemon = Daemon.fresh(tcp=False, netns=netns, log_level=log_level, extra_args=extra_args)
    daemon.cgroup_parent = daemon.cgroup_parent.replace("corral-test-", "corral-bench-")
    clients: list[httpx.Client] = []

    def stop() -> None:
        for client in clients:
            client.close()
        notes = daemon.teardown()
        if notes:
            log("bench: corral cleanup: " + " | ".join(notes))

    cleanup.append(stop)
    log(f"bench: corrald from {os.environ['CORRAL_BIN_DIR']} in netns {netns} (state {daemon.state_dir})")
    daemon.start()
    clients.append(httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.sock)), base_url="http://corral",
                                timeout=httpx.Timeout(timeout_s, connect=5.0), trust_env=False))
    return daemon, clients[0]


def run_floor(n: int, workdir: Path) -> dict[str, float]:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise SystemExit("bench: no C compiler (cc) found")
    exe = workdir / "floor"
    subprocess.run([cc, "-O2", "-Wall", "-o", str(exe), str(REPO / "bench" / "floor.c")], check=True)
    out = subprocess.run([str(exe), str(n), *WORKLOAD], check=True, capture_output=True, text=True, timeout=120)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def mib(kib: float | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def shim_of(pid: int) -> int | None:
    """The corral-shim supervising a workload: its parent, if that is a shim."""
    ppid = proc_ppid(pid)
    if ppid and ppid > 1:
        cmd = proc_cmdline(ppid)
        if cmd and "corral-shim" in Path(cmd[0]).name:
            return ppid
    return None


def shims_of_state_dir(state_dir: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            cmd = proc_cmdline(int(entry))
            if cmd and "corral-shim" in Path(cmd[0]).name and str(state_dir) in "\0".join(cmd):
                found.append(int(entry))
    return found


def create_running(client: httpx.Client, name: str, wait_s: int) -> tuple[float, dict[str, Any], dict[str, Any]]:
    body = {"name": name, "args": WORKLOAD, "autostart": True, "timeout_s": wait_s}
    payload = json.dumps(body).encode()
    t0 = time.perf_counter()
    r = client.post("/v1/instances", content=payload, headers={"content-type": "application/json"},
                    timeout=wait_s + 15)
    elapsed = (time.perf_counter() - t0) * 1000
    if not r.is_success:
        raise RuntimeError(f"create {name}: HTTP {r.status_code}: {r.text[:500]}")
    env = r.json()
    inst = ((env.get("data") or {}).get("instances") or [{}])[0]
    if inst.get("state") != "running":
        raise RuntimeError(f"create {name} answered before running: {json.dumps(inst)[:500]}")
    return elapsed, inst, env


def delete_all(client: httpx.Client, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    left: list[dict[str, Any]] = []
    for _ in range(200):
        r = client.get("/v1/instances", timeout=30)
        left = ((r.json().get("data") or {}).get("instances") or []) if r.is_success else []
        if not left or time.monotonic() >= deadline:
            break
        for i in range(0, len(left), 50):
            chunk = [{"uuid": x["uuid"]} for x in left[i : i + 50] if x.get("uuid")]
            client.request("DELETE", "/v1/instances", content=json.dumps(chunk).encode(),
                           headers={"content-type": "application/json"}, timeout=60)
        time.sleep(0.2)
    return len(left)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200, help="instances to create (>= 200 for a real run)")
    ap.add_argument("--floor-n", type=int, default=500, help="fork+exec samples for the floor")
    ap.add_argument("--warmup", type=int, default=5, help="instances created and deleted before measuring")
    ap.add_argument("--wait-s", type=int, default=10, help="timeout_s of each create")
    ap.add_argument("--max-seconds", type=float, default=300, help="overall bound")
    ap.add_argument("--log-level", default="warning", help="corrald --log-level")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the p50 goal is missed")
    args = ap.parse_args()
    if args.count < 1:
        ap.error("--count must be positive")

    started = time.monotonic()
    deadline = started + args.max_seconds
    reason = host_skip_reason()
    if reason is not None:
        log(f"bench: cannot run here: {reason}")
        return 2
    bins = Path(os.environ["CORRAL_BIN_DIR"])
    try:
        binary("corrald"), binary("corral-shim")
    except FileNotFoundError as e:
        log(f"bench: {e} (build with `swift build -c release`)")
        return 2

    work = Path(tempfile.mkdtemp(prefix="corral-bench-", dir="/tmp"))
    daemon: Daemon | None = None
    try:
        log(f"bench: floor: fork+exec x{args.floor_n} ...")
        floor = run_floor(args.floor_n, work)

        daemon = Daemon.fresh(tcp=False, log_level=args.log_level)
        daemon.cgroup_parent = daemon.cgroup_parent.replace("corral-test-", "corral-bench-")
        log(f"bench: starting corrald from {bins} (state {daemon.state_dir}, cgroup parent {daemon.cgroup_parent})")
        daemon.start()
        assert daemon.pid is not None
        client = httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.sock)), base_url="http://corral",
                              timeout=httpx.Timeout(60.0, connect=5.0), trust_env=False)
        time.sleep(1.0)
        rss_idle = proc_rss_kib(daemon.pid)

        for i in range(args.warmup):
            create_running(client, f"warm-{i}", args.wait_s)
        if delete_all(client, 60):
            raise RuntimeError("warm-up instances could not be deleted")
        time.sleep(0.5)

        rss_at: dict[int, int | None] = {0: proc_rss_kib(daemon.pid)}
        latencies: list[float] = []
        server_us: list[int] = []
        boot_us: list[int] = []
        pids: list[int] = []
        log(f"bench: creating {args.count} instances one at a time ...")
        for i in range(args.count):
            if time.monotonic() > deadline - 60:
                log(f"bench: stopping early at {i} instances: --max-seconds is near")
                break
            ms, inst, env = create_running(client, f"bench-{i}", args.wait_s)
            latencies.append(ms)
            if isinstance(env.get("op_time_us"), int):
                server_us.append(env["op_time_us"])
            if isinstance(inst.get("boot_time_us"), int):
                boot_us.append(inst["boot_time_us"])
            if isinstance(inst.get("pid"), int):
                pids.append(inst["pid"])
            if (i + 1) % 100 == 0:
                time.sleep(0.2)
                rss_at[i + 1] = proc_rss_kib(daemon.pid)
                log(f"bench: {i + 1} running, corrald VmRSS {mib(rss_at[i + 1])}")

        shim_pids = [s for s in (shim_of(p) for p in pids) if s is not None]
        if not shim_pids:
            shim_pids = shims_of_state_dir(daemon.state_dir)
        shim_rss = [r for r in (proc_rss_kib(s) for s in shim_pids) if r is not None]

        log("bench: deleting everything ...")
        left = delete_all(client, max(30.0, deadline - time.monotonic()))
        client.close()

        # ---- report ----
        n = len(latencies)
        if n == 0:
            raise RuntimeError("no instance was measured")
        c50, c99 = percentile(latencies, 50), percentile(latencies, 99)
        f50, f99 = floor["p50_ms"], floor["p99_ms"]
        met = c50 <= f50 + GOAL_MS
        w = 44
        print()
        print(f"Corral start benchmark: {n} instances, process driver, binaries from {bins}")
        print(f"{'':{w}}{'p50 ms':>12}{'p99 ms':>12}")
        floor_label = f"floor: fork+exec {' '.join(WORKLOAD)} (n={int(floor['n'])})"
        print(f"{floor_label:{w}}{f50:>12.3f}{f99:>12.3f}")
        print(f"{'corral: POST /v1/instances -> running':{w}}{c50:>12.3f}{c99:>12.3f}")
        if server_us:
            print(f"{'  of which server op_time_us':{w}}{percentile(server_us, 50) / 1000:>12.3f}"
                  f"{percentile(server_us, 99) / 1000:>12.3f}")
        if boot_us:
            print(f"{'  instance boot_time_us':{w}}{percentile(boot_us, 50) / 1000:>12.3f}"
                  f"{percentile(boot_us, 99) / 1000:>12.3f}")
        ratio50 = c50 / f50 if f50 > 0 else float("inf")
        ratio99 = c99 / f99 if f99 > 0 else float("inf")
        print(f"{'ratio corral / floor':{w}}{ratio50:>11.1f}x{ratio99:>11.1f}x")
        print(f"{'difference corral - floor':{w}}{c50 - f50:>+12.3f}{c99 - f99:>+12.3f}")
        print(f"{f'goal: p50 <= floor + {GOAL_MS:.0f} ms':{w}}{'met' if met else 'MISSED':>12}")
        print(f"{'  mean / min / max ms':{w}}{statistics.fmean(latencies):>12.3f}"
              f"{min(latencies):>12.3f}   max {max(latencies):.3f}")
        print()
        print(f"{'memory':{w}}{'VmRSS':>12}")
        print(f"{'corrald idle (before any instance)':{w}}{mib(rss_idle):>12}")
        for k in sorted(rss_at):
            print(f"{f'corrald with {k} running':{w}}{mib(rss_at[k]):>12}")
        keys = sorted(k for k in rss_at if rss_at[k] is not None)
        for a, b in zip(keys, keys[1:]):
            growth = (rss_at[b] - rss_at[a]) / (b - a) * 100  # type: ignore[operator]
            print(f"{f'corrald growth per 100 running ({a}->{b})':{w}}{mib(growth):>12}")
        if shim_rss:
            print(f"{f'corral-shim per instance (median of {len(shim_rss)})':{w}}{mib(statistics.median(shim_rss)):>12}")
            print(f"{'corral-shim per instance (min / max)':{w}}{mib(min(shim_rss)):>12}   max {mib(max(shim_rss))}")
        else:
            print(f"{'corral-shim per instance':{w}}{'not found':>12}")
        if left:
            print(f"\nwarning: {left} instance(s) were still listed after the delete")
        print(f"\ntotal bench time {time.monotonic() - started:.0f}s")
        if n < 200:
            print(f"note: only {n} instances measured; a real run needs >= 200")
        return 1 if (args.strict and not met) else 0
    except Exception as e:  # noqa: BLE001 - report and clean up
        log(f"bench: failed: {e}")
        if daemon is not None:
            log(daemon.log_tail(40))
        return 1
    finally:
        if daemon is not None:
            notes = daemon.teardown()
            if notes:
                log("bench: cleanup: " + " | ".join(notes))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
