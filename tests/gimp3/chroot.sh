#!/bin/bash
# chroot.sh - real, headless GIMP 3 in a Debian trixie chroot (adapted from
# shared/tools/gimp3-chroot.sh; owned by the project so tests never call shared/).
#
#   chroot.sh build            build or reuse the chroot: GIMP 3 + python3 venv with grpcio/protobuf
#   chroot.sh run BATCH OUT    run BATCH (python-fu-eval code) in gimp-console-3.0; copy $GIMP_OUT to OUT
#   chroot.sh path             print the chroot directory
#
# Plug-ins are NOT installed here: the test installs them with `stylize gimp install --dir`.
# Env: STYLIZE_GIMP3_CHROOT (default $XDG_CACHE_HOME/stylize/gimp3-chroot), MIRROR (default:
#      the host's apt mirror), GIMP_TIMEOUT seconds (default 240).
# Exit status: 0 ok; 2 cannot build here (reason on stderr); GIMP's status for `run`
# (64 when the batch raised, 124 timeout).
set -euo pipefail

CHROOT=${STYLIZE_GIMP3_CHROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/stylize/gimp3-chroot}
case "$CHROOT" in /?*/?*) ;; *) echo "refusing chroot path $CHROOT" >&2; exit 2;; esac
SUITE=trixie
PKGS="gimp python3 python3-gi gir1.2-gimp-3.0 python3-venv python3-pip ca-certificates xvfb"
VENV=/opt/stylize-venv
PY_PKGS="grpcio>=1.60 grpcio-status>=1.60 protobuf>=5.26"

log() { echo "[gimp3-chroot] $*" >&2; }
cant() { echo "cannot build the GIMP 3 chroot: $*" >&2; exit 2; }

host_mirror() {
  local m
  m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "$m"
}

in_chroot() {  # run a command in the chroot with a clean environment
  chroot "$CHROOT" /usr/bin/env -i HOME=/root USER=root LANG=C.UTF-8 \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

with_proc() {  # mount /proc for the duration of "$@"
  local mounted=0 rc=0
  if ! mountpoint -q "$CHROOT/proc"; then mount -t proc proc "$CHROOT/proc"; mounted=1; fi
  "$@" || rc=$?
  if [ "$mounted" = 1 ]; then umount "$CHROOT/proc" 2>/dev/null || true; fi
  return $rc
}

debootstrap_once() {
  [ -e "$CHROOT/.debootstrap-done" ] && return 0
  local mirror=${MIRROR:-$(host_mirror)}
  [ -n "$mirror" ] || cant "no Debian mirror in the host's apt sources (set MIRROR)"
  if ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || cant "no debootstrap and no apt-get"
    apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq debootstrap >/dev/null 2>&1 \
      || cant "debootstrap is not installed and apt-get could not install it"
  fi
  mountpoint -q "$CHROOT/proc" 2>/dev/null && umount "$CHROOT/proc"
  rm -rf "$CHROOT"; mkdir -p "$CHROOT"
  log "debootstrap $SUITE from $mirror into $CHROOT (one-time, ~1 min)"
  debootstrap --variant=minbase "$SUITE" "$CHROOT" "$mirror" >"$CHROOT.debootstrap.log" 2>&1 \
    || { tail -20 "$CHROOT.debootstrap.log" >&2; cant "debootstrap failed (log: $CHROOT.debootstrap.log)"; }
  touch "$CHROOT/.debootstrap-done"
}

install_packages() {
  # a superset list (e.g. the shared script's) is fine: only install what is missing
  local missing
  missing=$(in_chroot sh -c "for p in $PKGS; do dpkg-query -W -f='\${Status}' \$p 2>/dev/null | grep -q 'ok installed' || echo \$p; done")
  [ -z "$missing" ] && return 0
  cp /etc/resolv.conf "$CHROOT/etc/resolv.conf" 2>/dev/null || true
  log "installing: $PKGS"
  in_chroot DEBIAN_FRONTEND=noninteractive sh -c \
    "apt-get update && apt-get install -y --no-install-recommends $PKGS && apt-get clean" \
    >"$CHROOT.install.log" 2>&1 || { tail -20 "$CHROOT.install.log" >&2; cant "apt-get in the chroot failed"; }
}

make_venv() {
  [ "$(cat "$CHROOT$VENV/.stylize-ok" 2>/dev/null)" = "$PY_PKGS" ] && return 0
  log "creating $VENV with $PY_PKGS"
  mkdir -p "$CHROOT/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$CHROOT/etc/ssl/certs/host-ca.crt"
  cp /etc/resolv.conf "$CHROOT/etc/resolv.conf" 2>/dev/null || true
  in_chroot PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 sh -c \
    "rm -rf $VENV && python3 -m venv $VENV && $VENV/bin/pip install -q $(printf "'%s' " $PY_PKGS) \
     && $VENV/bin/python -c 'import grpc, grpc_status, google.protobuf, google.rpc.status_pb2'" \
    >"$CHROOT.venv.log" 2>&1 || { tail -20 "$CHROOT.venv.log" >&2; cant "pip install in the chroot failed"; }
  echo "$PY_PKGS" > "$CHROOT$VENV/.stylize-ok"
}

build() {
  [ "$(id -u)" = 0 ] || cant "must run as root (debootstrap/chroot)"
  mkdir -p "$(dirname "$CHROOT")"
  debootstrap_once
  with_proc install_packages
  with_proc make_venv
  log "ready: $CHROOT (gimp $(in_chroot dpkg-query -W -f='${Version}' gimp))"
}

run() {
  local batch out rc=0
  batch=$(readlink -f "$1"); out=$2
  mkdir -p "$CHROOT/job"; rm -rf "$CHROOT/job/out"; mkdir -p "$CHROOT/job/out"
  cp "$batch" "$CHROOT/job/batch.py"
  with_proc timeout "${GIMP_TIMEOUT:-240}" chroot "$CHROOT" /usr/bin/env -i HOME=/root USER=root \
    LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin GIMP_OUT=/job/out \
    sh -c 'cd /job && exec gimp-console-3.0 -idf --batch-interpreter python-fu-eval -b - --quit' \
    < "$CHROOT/job/batch.py" 2>&1 || rc=$?
  mkdir -p "$out"; cp -r "$CHROOT/job/out/." "$out/"
  return $rc
}

# one user of the chroot at a time (proc mounts, job dir)
mkdir -p "$(dirname "$CHROOT")"
exec 9>"$CHROOT.lock"; flock 9
case "${1:-}" in
  build) build ;;
  run) [ $# -eq 3 ] || { sed -n 2,13p "$0" >&2; exit 2; }; run "$2" "$3" ;;
  path) echo "$CHROOT" ;;
  *) sed -n 2,13p "$0" >&2; exit 2 ;;
esac
