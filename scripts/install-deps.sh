#!/usr/bin/env bash
# Installs the Debian packages Corral needs that are missing. Idempotent: does
# nothing (and needs no network) when everything is present.
set -euo pipefail

packages=(
  libsqlite3-dev   # GRDB links the system SQLite
  python3-venv     # the test and benchmark venv
  procps           # ps/pkill in tests and scripts
  iproute2         # network namespaces, veths, bridges
  nftables         # egress NAT for the bridge
  crun             # the OCI runtime of the container driver
  runc             # the other OCI runtime it can use (--container-runtime runc)
  umoci            # unpacks OCI images into root filesystems
  skopeo           # pulls and imports OCI images
  busybox-static   # the built-in busybox base image
  docker-registry  # a local registry for the image tests
  qemu-system-x86  # the vm driver's hypervisor
  qemu-utils       # qemu-img: each VM's qcow2 overlay
  e2fsprogs        # mkfs.ext4 -d: a VM root disk per image
  linux-image-cloud-amd64  # the default guest kernel of the vm driver
)

# `--bench` adds the peers make bench compares Corral with.
if [ "${1:-}" = "--bench" ]; then
  packages+=(podman)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    echo "install-deps: swift is at /opt/swift/usr/bin; add it to PATH" >&2
  else
    echo "install-deps: no Swift toolchain found (Swift 6.1 or later is needed)" >&2
  fi
  exit 1
fi
