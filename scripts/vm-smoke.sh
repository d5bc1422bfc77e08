#!/bin/sh
# Boots corral-agent as PID 1 of a QEMU microVM by hand, the way the vm driver does,
# and drives it over its virtio-serial channel: configure, ready, exec, shutdown.
#
#   scripts/vm-smoke.sh [--agent PATH] [--machine microvm|q35] [--accel tcg|kvm]
#                       [--probe] [--keep] [--timeout SECONDS]
#
# --probe boots with corral.probe=1 (the accelerator probe: the agent prints
# "corral-agent: probe ok" and powers off). Needs qemu-system-x86, qemu-utils,
# e2fsprogs, cpio, busybox-static, python3 and linux-image-cloud-amd64. Works in a
# temporary directory; prints the QEMU command line, the console, and timings.
set -eu

AGENT=.build/debug/corral-agent
MACHINE=microvm
ACCEL=tcg
PROBE=0
KEEP=0
TIMEOUT=90
while [ $# -gt 0 ]; do
    case "$1" in
        --agent) AGENT=$2; shift 2 ;;
        --machine) MACHINE=$2; shift 2 ;;
        --accel) ACCEL=$2; shift 2 ;;
        --probe) PROBE=1; shift ;;
        --keep) KEEP=1; shift ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

KERNEL=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1)
[ -n "$KERNEL" ] || { echo "no /boot/vmlinuz-*-cloud-amd64: apt-get install linux-image-cloud-amd64" >&2; exit 1; }
VERSION=${KERNEL#/boot/vmlinuz-}
MODULES=/lib/modules/$VERSION
[ -x "$AGENT" ] || { echo "no agent at $AGENT (swift build --product corral-agent)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/corral-vm-smoke-XXXXXX)
QEMU_PID=
cleanup() {
    [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true
    [ "$KEEP" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The initramfs: /init is the agent, /dev/console exists, modules in load order.
mkdir -p "$WORK/initrd/dev" "$WORK/initrd/etc/corral" "$WORK/initrd/lib/modules" \
    "$WORK/initrd/proc" "$WORK/initrd/sys" "$WORK/initrd/newroot"
cp "$AGENT" "$WORK/initrd/init"
mknod "$WORK/initrd/dev/console" c 5 1
: > "$WORK/initrd/etc/corral/modules"
add_module() {  # $1: module name; dependencies first (modules.dep lists them last-loaded-first)
    local line path dep name
    line=$(grep -E "/$(echo "$1" | sed "s/_/[-_]/g")\.ko(\.[a-z]+)?:" "$MODULES/modules.dep" || true)
    [ -n "$line" ] || return 0
    path=${line%%:*}
    for dep in $(echo "${line#*:}" | tr ' ' '\n' | tac); do
        add_module "$(basename "$dep" | sed -E 's/\.ko(\.[a-z]+)?$//')"
    done
    name=$(basename "$path")
    grep -qx "/lib/modules/$name" "$WORK/initrd/etc/corral/modules" && return 0
    cp "$MODULES/$path" "$WORK/initrd/lib/modules/$name"
    echo "/lib/modules/$name" >> "$WORK/initrd/etc/corral/modules"
}
for module in virtio_mmio virtio_pci virtio_blk virtio_net virtio_console virtio_rng ext4 button evdev; do add_module $module; done
(cd "$WORK/initrd" && find . | cpio -o -H newc --quiet) > "$WORK/initramfs.cpio"

# The root disk: an ext4 base from a busybox rootfs, a qcow2 overlay over it.
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/dev" "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/tmp" "$ROOTFS/root"
cp /bin/busybox "$ROOTFS/bin/busybox"
for applet in sh echo sleep cat ls id hostname mount ip; do ln -s busybox "$ROOTFS/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOTFS/etc/passwd"
mkfs.ext4 -q -F -d "$ROOTFS" -L corral-root "$WORK/base.ext4" 256M
qemu-img create -q -f qcow2 -b "$WORK/base.ext4" -F raw "$WORK/overlay.qcow2"

KHZ=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
APPEND="console=ttyS0 reboot=t panic=-1"
[ "$ACCEL" = tcg ] && [ "$MACHINE" = microvm ] && APPEND="$APPEND tsc_early_khz=$KHZ"
[ "$PROBE" = 1 ] && APPEND="$APPEND corral.probe=1"
if [ "$MACHINE" = microvm ]; then
    BLK=virtio-blk-device SERIAL=virtio-serial-device
else
    BLK=virtio-blk-pci SERIAL=virtio-serial-pci
fi
set -- qemu-system-x86_64 -M "$MACHINE" -accel "$ACCEL" -m 256 -smp 1 -nodefaults -no-user-config \
    -display none -no-reboot -kernel "$KERNEL" -initrd "$WORK/initramfs.cpio" -append "$APPEND" \
    -serial "file:$WORK/console.log"
if [ "$PROBE" = 0 ]; then
    set -- "$@" -drive "id=root,file=$WORK/overlay.qcow2,format=qcow2,if=none" -device "$BLK,drive=root" \
        -chardev "socket,id=agent,path=$WORK/agent.sock,server=on,wait=off" \
        -device "$SERIAL" -device "virtserialport,chardev=agent,name=corral.agent"
fi
echo "initramfs: $(stat -c %s "$WORK/initramfs.cpio") bytes; modules: $(wc -l < "$WORK/initrd/etc/corral/modules")"
echo "+ $*"
START=$(date +%s.%N)
"$@" & QEMU_PID=$!

if [ "$PROBE" = 0 ]; then
    python3 - "$WORK/agent.sock" "$START" "$TIMEOUT" <<'PY'
import socket, struct, sys, time
path, start, timeout = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
def field(tag, b): return bytes([tag]) + struct.pack(">I", len(b)) + b
def text(tag, s): return field(tag, s.encode())
def integer(tag, v): return field(tag, struct.pack(">q", v))
def frame(t, rid, p): return b"CRAL" + bytes([1, t]) + struct.pack(">II", rid, len(p)) + p
sock = socket.socket(socket.AF_UNIX)
for _ in range(200):
    try: sock.connect(path); break
    except OSError: time.sleep(0.05)
sock.settimeout(timeout)
buf = b""
def recv():
    global buf
    while True:
        if len(buf) >= 14:
            n = struct.unpack(">I", buf[10:14])[0]
            if len(buf) >= 14 + n:
                t, rid, p = buf[5], struct.unpack(">I", buf[6:10])[0], buf[14:14 + n]
                buf = buf[14 + n:]
                fields, o = {}, 0
                while o < len(p):
                    tag, size = p[o], struct.unpack(">I", p[o + 1:o + 5])[0]
                    fields.setdefault(tag, p[o + 5:o + 5 + size]); o += 5 + size
                return t, rid, fields
        data = sock.recv(65536)
        if not data: raise SystemExit("agent channel closed")
        buf += data
workload = text(3, "sh") + text(3, "-c") + text(3, "echo hello-from-guest; sleep 30")
sock.sendall(frame(13, 1, field(25, workload) + integer(26, 0) + integer(27, 0) + text(29, "smoke")
                   + text(30, "/dev/vda") + text(31, "ext4")))
t, rid, f = recv()
if t != 7: raise SystemExit("configure failed: %r" % f.get(24))
t, rid, f = recv()
print("ready after %.2f s (guest boot clock %.2f s)" % (time.time() - start, struct.unpack(">Q", f[2])[0] / 1e9))
sock.sendall(frame(2, 2, text(3, "echo") + text(3, "hi")))
t, rid, f = recv()
print("exec echo hi -> %r exit %d" % (f.get(11), struct.unpack(">q", f[8])[0]))
sock.sendall(frame(10, 3, integer(23, 2000)))
recv()
t, rid, f = recv()
print("workloadExited (id %#x)" % rid)
sock.sendall(frame(7, rid, b""))
PY
fi
wait "$QEMU_PID" || true
QEMU_PID=
END=$(date +%s.%N)
echo "QEMU exited after $(echo "$END - $START" | bc) s"
echo "--- console (last lines)"
tail -n 8 "$WORK/console.log"
