#!/usr/bin/env python3
"""Corral's microVM boot benchmark (not a test): Corral's vm driver vs bare QEMU.

One run, one kernel, one initramfs, one accelerator:

1. Corral: a corrald (release build: $CORRAL_BIN_DIR, default .build/release) on a
   temp state dir, inside a network namespace this script makes (its bridge and
   taps live there). A first VM (untimed) builds the busybox image's ext4 base and
   the initramfs; its QEMU command line is read from /proc, and its QEMU's RSS is
   sampled once the VM has idled for a few seconds. Then each timed sample is
   POST /v1/instances {"driver":"vm","image":"busybox","args":["sleep","3600"],
   autostart, timeout_s}: the answer comes when the guest agent reports ready
   (root disk mounted, network configured, workload started). Each VM is deleted,
   untimed, before the next sample. The instance's boot_time_us is reported too.
2. Bare QEMU: the same qemu-system-x86_64 with the same machine type, accelerator,
   CPU, memory, vCPUs, kernel, initramfs and kernel command line as Corral's VM,
   plus `corral.probe=1`, with only the serial console: the agent, as PID 1, prints
   `corral-agent: probe ok` as soon as it runs and powers the VM off. Timed from
   the exec of QEMU to that marker on the console. No disk, no network, no agent
   channel: the floor a VM manager cannot go below with this guest.
3. Samples interleave (one of each per round, order shuffled per round), so a busy
   host weighs on both alike. Report: p50/p99 of both, the ratio (goal <= 1.15x),
   the accelerator and why, QEMU RSS per idle VM.

Everything made is removed: instances, daemon, netns, cgroups, temp dirs. Bounded by
--max-seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("CORRAL_BIN_DIR", str(REPO / ".build" / "release"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
sys.dont_write_bytecode = True

from bench import bench_daemon, log, percentile  # noqa: E402

GOAL = 1.15  # Corral p50 <= 1.15 x bare QEMU p50
MARKER = b"corral-agent: probe ok"
SLEEP = ["sleep", "3600"]


def qemu_pids(uuid: str) -> list[int]:
    from corral_testlib import proc_cmdline

    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = proc_cmdline(int(entry.name))
            if argv and "qemu-system" in argv[0] and any(uuid in a for a in argv):
                pids.append(int(entry.name))
    return pids


def bare_argv(corral_argv: list[str]) -> list[str]:
    """Corral's QEMU command line reduced to kernel + initramfs + serial console."""
    keep_with_value = {"-M", "-machine", "-accel", "-cpu", "-m", "-smp", "-kernel", "-initrd", "-append"}
    out = [corral_argv[0], "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio"]
    i = 1
    while i < len(corral_argv):
        opt = corral_argv[i]
        if opt in keep_with_value and i + 1 < len(corral_argv):
            value = corral_argv[i + 1]
            if opt == "-append":
                value += " corral.probe=1"
            out += [opt, value]
            i += 2
        elif opt == "-enable-kvm":
            out.append(opt)
            i += 1
        else:
            i += 1
    return out


def boot_bare(argv: list[str], timeout: float) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = b""
    try:
        assert proc.stdout is not None
        deadline = t0 + timeout
        while MARKER not in seen:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RuntimeError(f"bare QEMU: no marker in {timeout:.0f}s; console tail: {seen[-600:]!r}")
            ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    raise RuntimeError(f"bare QEMU exited ({proc.wait()}) before the marker; tail: {seen[-600:]!r}")
                seen += chunk
        return (time.perf_counter() - t0) * 1000
    finally:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Corral:
    def __init__(self, args: argparse.Namespace, cleanup: list[Callable[[], None]]) -> None:
        self.wait_s = args.wait_s
        extra = ["--vm-accel", args.accel] if args.accel else []
        self.daemon, self.client = bench_daemon(
            "corral-bv", cleanup, log_level=args.log_level, extra_args=extra, timeout_s=self.wait_s + 60.0)
        self.boot_us: list[float] = []

    def vm_notes(self) -> list[str]:
        drivers = self.client.get("/v1/drivers").json()["data"]["drivers"]
        vm = next((d for d in drivers if d["name"] == "vm"), None)
        if vm is None or not vm.get("available"):
            raise RuntimeError(f"the vm driver is not available: {json.dumps(vm)}")
        return vm.get("notes", [])

    def create(self, name: str) -> dict[str, Any]:
        body = {"name": name, "driver": "vm", "image": "busybox", "args": SLEEP, "memory_mb": 128,
                "autostart": True, "timeout_s": self.wait_s}
        r = self.client.post("/v1/instances", content=json.dumps(body).encode(),
                             headers={"content-type": "application/json"})
        if not r.is_success:
            raise RuntimeError(f"create {name}: HTTP {r.status_code}: {r.text[:600]}")
        inst = ((r.json().get("data") or {}).get("instances") or [{}])[0]
        if inst.get("state") != "running":
            raise RuntimeError(f"create {name} answered before running: {json.dumps(inst)[:600]}")
        return inst

    def delete(self, uuid: str) -> None:
        r = self.client.delete(f"/v1/instances/{uuid}", timeout=120)
        if not r.is_success and r.status_code != 404:
            raise RuntimeError(f"delete {uuid}: HTTP {r.status_code}: {r.text[:300]}")

    def sample(self, i: int) -> float:
        t0 = time.perf_counter()
        inst = self.create(f"bv-{i}")
        ms = (time.perf_counter() - t0) * 1000
        if isinstance(inst.get("boot_time_us"), int):
            self.boot_us.append(inst["boot_time_us"])
        self.delete(inst["uuid"])
        return ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_VM_RUNS", "8")),
                        help="samples per side (each a whole VM boot)")
    parser.add_argument("--accel", default=os.environ.get("BENCH_VM_ACCEL"), help="kvm, tcg or auto (corrald's default)")
    parser.add_argument("--wait-s", type=int, default=240)
    parser.add_argument("--idle-s", type=float, default=5.0, help="idle time before QEMU's RSS is read")
    parser.add_argument("--max-seconds", type=float, default=1500)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()

    from corral_testlib import host_skip_reason, proc_cmdline, proc_rss_kib

    reason = host_skip_reason()
    if reason is None and shutil.which("qemu-system-x86_64") is None:
        reason = "qemu-system-x86_64 is not installed"
    if reason is not None:
        log(f"bench_vm: skipped: {reason}")
        return 0

    started = time.monotonic()
    cleanup: list[Callable[[], None]] = []
    try:
        corral = Corral(args, cleanup)
        notes = corral.vm_notes()
        accel_notes = [n for n in notes if "kvm" in n.lower() or "tcg" in n.lower()]
        log("bench: vm driver: " + " | ".join(notes))

        # Warm-up: builds the image's ext4 base and the initramfs; yields QEMU's argv and RSS.
        first = corral.create("bv-warm")
        [pid] = qemu_pids(first["uuid"])
        argv = proc_cmdline(pid)
        time.sleep(args.idle_s)
        rss_kib = proc_rss_kib(pid)
        corral.delete(first["uuid"])
        bare = bare_argv(argv)
        log("bench: corral qemu: " + " ".join(argv))
        log("bench: bare qemu:   " + " ".join(bare))
        boot_bare(bare, args.wait_s)  # warm the page cache for the bare side too

        samples: dict[str, list[float]] = {"corral": [], "bare": []}
        tools: dict[str, Callable[[int], float]] = {
            "corral": corral.sample,
            "bare": lambda i: boot_bare(bare, args.wait_s),
        }
        rng = random.Random(4)
        for i in range(args.runs):
            if time.monotonic() - started > args.max_seconds:
                log(f"bench: stopping after {i} rounds: --max-seconds reached")
                break
            order = list(tools)
            rng.shuffle(order)
            for key in order:
                samples[key].append(tools[key](i))
            log(f"bench: round {i + 1}/{args.runs}: corral {samples['corral'][-1]:.0f} ms, bare {samples['bare'][-1]:.0f} ms")

        c50, b50 = percentile(samples["corral"], 50), percentile(samples["bare"], 50)
        c99, b99 = percentile(samples["corral"], 99), percentile(samples["bare"], 99)
        ratio = c50 / b50 if b50 else float("inf")
        print()
        print(f"vm boot, {len(samples['corral'])} runs each (accelerator: {'; '.join(accel_notes) or 'unknown'})")
        print(f"  bare QEMU -> init marker       p50 {b50:9.1f} ms   p99 {b99:9.1f} ms")
        print(f"  Corral create+start -> ready   p50 {c50:9.1f} ms   p99 {c99:9.1f} ms")
        if corral.boot_us:
            print(f"  Corral boot_time_us            p50 {percentile(corral.boot_us, 50) / 1000:9.1f} ms")
        print(f"  ratio Corral/bare p50: {ratio:.2f}x (goal <= {GOAL}x: {'met' if ratio <= GOAL else 'MISSED'})")
        print(f"  QEMU RSS of an idle 128 MiB VM: {rss_kib / 1024 if rss_kib else float('nan'):.1f} MiB")
        return 0
    finally:
        for step in reversed(cleanup):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                log(f"bench: cleanup step failed: {e!r}")


if __name__ == "__main__":
    sys.exit(main())
