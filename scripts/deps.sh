#!/usr/bin/env bash
# Install troupe's build dependencies on Debian/Ubuntu when any is missing.
#
#   scripts/deps.sh                 # build deps only
#   scripts/deps.sh clang-format    # build deps plus extra Debian packages
#
# Runs apt-get only when something is missing; uses sudo only when not root.
set -euo pipefail

packages=(make cmake gcc libc6-dev pkg-config libev-dev libck-dev libcmocka-dev libncurses-dev "$@")

log() { echo "[deps] $*"; }

if ! command -v dpkg-query >/dev/null 2>&1; then
    # Not a Debian-like system: check that the tools are there, don't install.
    missing=0
    for tool in make cmake cc pkg-config; do
        command -v "$tool" >/dev/null 2>&1 || { log "missing tool: $tool"; missing=1; }
    done
    for mod in ck cmocka; do
        pkg-config --exists "$mod" 2>/dev/null || { log "missing pkg-config module: $mod"; missing=1; }
    done
    for extra in "$@"; do
        command -v "$extra" >/dev/null 2>&1 || { log "missing tool: $extra"; missing=1; }
    done
    if [ "$missing" -ne 0 ]; then
        log "no dpkg/apt here: install the missing dependencies by hand"
        exit 1
    fi
    log "all dependencies present"
    exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"ok installed"*) ;;
        *) missing+=("$pkg") ;;
    esac
done

if [ "${#missing[@]}" -eq 0 ]; then
    log "all dependencies present (${packages[*]})"
    exit 0
fi

log "missing: ${missing[*]}"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        log "not root and sudo is not available: cannot install ${missing[*]}"
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
log "installed: ${missing[*]}"
