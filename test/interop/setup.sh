#!/usr/bin/env bash
# Debian packages the interop suite needs (client VM, namespaces, HTTP, capture), and
# python3-jsonschema for the unit tests' check of the .sswan profile.
# Idempotent: apt-get runs only when a package is missing. Needs root.
set -euo pipefail

PACKAGES=(
  qemu-system-x86 busybox-static
  strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins
  xl2tpd ppp kmod cpio nftables iproute2 curl tcpdump python3 conntrack
  freeradius
  python3-jsonschema
)

# test/radius starts its own FreeRADIUS (private config, random loopback port) and
# needs the package only: the system service must not hold 1812/1813. The install
# below runs under a policy-rc.d that keeps it from starting; this also disables it
# for later boots and stops one left running by an earlier manual install.
keep_freeradius_down() {
  [ "$(id -u)" -eq 0 ] || return 0
  dpkg-query -W -f='${db:Status-Status}' freeradius 2>/dev/null | grep -q '^installed$' || return 0
  if command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then systemctl disable --now freeradius >/dev/null 2>&1 || true
    else systemctl disable freeradius >/dev/null 2>&1 || true; fi
  fi
  if command -v update-rc.d >/dev/null 2>&1; then update-rc.d freeradius disable >/dev/null 2>&1 || true; fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done

# The harness downloads Debian's kernel package (the version linux-image-amd64 names):
# that needs the package lists.
kernel_known=1
apt-cache depends linux-image-amd64 2>/dev/null | grep -q 'Depends: linux-image-' || kernel_known=0

if [ ${#missing[@]} -eq 0 ] && [ "$kernel_known" -eq 1 ]; then
  echo "interop setup: all ${#PACKAGES[@]} Debian packages already installed"
  keep_freeradius_down
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "interop setup: missing packages (${missing[*]:-none}) or package lists, and not root: run as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Only refresh the lists when a missing package is unknown to apt (fresh machine).
need_update=0
for p in "${missing[@]}"; do
  if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]'; then need_update=1; fi
done
if [ "$need_update" -eq 1 ] || [ "$kernel_known" -eq 0 ]; then
  apt-get update -q
fi
[ ${#missing[@]} -eq 0 ] && { keep_freeradius_down; exit 0; }
echo "interop setup: installing ${missing[*]}"
# The Debian packages start charon/xl2tpd/freeradius services on install; the suites run
# their own copies (in the client VM, or FreeRADIUS as a test's child process), so keep
# the host's services from starting.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1
fi
trap 'if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi' EXIT
# With recommends, as on the machine where the client setup was checked.
apt-get install -y -q "${missing[@]}"
keep_freeradius_down
