#!/usr/bin/env bash
# Make a current Docker engine, Compose v2 and buildx usable on Debian 12.
#
# Debian 12 ships Engine 20.10 and Compose v1: not what users run. Debian sid
# packages Engine 28, containerd 2, Compose 2.40 and buildx 0.29, whose
# binaries run on Debian 12; this script unpacks those packages (dpkg -x, so
# the host's apt never sees sid) into $DOCKER_PREFIX and links them into
# /usr/local/bin. sid's runc needs a newer glibc: Debian 12's runc stays the
# one on PATH. There is no systemd here, so dockerd is started in the
# background.
#
# Idempotent: on a warm machine (installed, an engine >= $MIN_ENGINE up) it
# only checks and prints versions. An older engine that answers is stopped
# first: two engines on one host fight over the bridge and iptables.
#
# Needs root. Tunables (environment):
#   DOCKERD_LOG     where dockerd logs                (default /var/log/dockerd.log)
#   DOCKERD_WAIT    seconds to wait for it            (default 60)
#   DEBIAN_MIRROR   mirror for the sid packages       (default: the host's, else deb.debian.org)
#   DOCKER_PREFIX   where the sid packages unpack     (default /opt/docker-sid)
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
DOCKERD_WAIT=${DOCKERD_WAIT:-60}
DOCKER_PREFIX=${DOCKER_PREFIX:-/opt/docker-sid}
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
MIN_ENGINE=28
# Debian 12: runc (sid's does not run here), tini (docker-init), iptables
# (dockerd's networking), debootstrap and iproute2 (the stand-in images).
DEBIAN12_PACKAGES=(runc tini iptables debootstrap ca-certificates iproute2)
# kustomize rides along: the template tests render the baked Kubernetes
# manifests with it, and Debian 12 has none.
SID_PACKAGES=(docker.io docker-cli containerd docker-compose docker-buildx kustomize)
export DEBIAN_FRONTEND=noninteractive

log() { printf '[docker-up] %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# Print the packages of the arguments that dpkg does not list as installed.
missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || printf '%s\n' "$pkg"
    done
}

# Print the Debian mirror the host's apt already uses (it is known reachable).
host_debian_mirror() {
    local uri
    uri=$(grep -hoE '(URIs:|^deb)[[:space:]]+[a-z]+://[^[:space:]]+/debian/?([[:space:]]|$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '{print $2}' | head -n1 || true)
    printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

install_debian12_packages() {
    local missing
    mapfile -t missing < <(missing_packages "${DEBIAN12_PACKAGES[@]}")
    if ((${#missing[@]} == 0)); then
        log "Debian 12 packages already installed: ${DEBIAN12_PACKAGES[*]}"
        return
    fi
    log "installing from Debian 12: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Download the sid packages with a private sources list and state dir, and
# unpack them into $DOCKER_PREFIX. The marker file names what was unpacked.
unpack_sid_packages() {
    local marker="$DOCKER_PREFIX/.unpacked"
    if [[ -f $marker && $(cat "$marker") == "${SID_PACKAGES[*]}" ]]; then
        log "sid packages already unpacked in $DOCKER_PREFIX"
        return
    fi
    local work mirror deb
    work=$(mktemp -d)
    # shellcheck disable=SC2064 # expands now on purpose: this function's dir
    trap "rm -rf '$work'" EXIT
    mirror=${DEBIAN_MIRROR:-$(host_debian_mirror)}
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
    # apt downloads as the unprivileged _apt user into the current dir.
    chmod 755 "$work"
    if id _apt >/dev/null 2>&1; then chown _apt "$work/debs"; fi
    printf 'deb %s sid main\n' "$mirror" >"$work/sid.list"
    local apt_opts=(
        -o "Dir::Etc::sourcelist=$work/sid.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$work/lists"
        -o "Dir::Cache=$work/cache"
        -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
        -o "APT::Get::List-Cleanup=0"
        # A sid snapshot's Release file can be past its Valid-Until date.
        -o "Acquire::Check-Valid-Until=false"
    )
    log "fetching ${SID_PACKAGES[*]} from sid ($mirror)"
    apt-get "${apt_opts[@]}" update -qq
    (cd "$work/debs" && apt-get "${apt_opts[@]}" download -qq "${SID_PACKAGES[@]}")
    rm -rf "$DOCKER_PREFIX"
    mkdir -p "$DOCKER_PREFIX"
    for deb in "$work"/debs/*.deb; do
        dpkg -x "$deb" "$DOCKER_PREFIX"
    done
    printf '%s\n' "${SID_PACKAGES[*]}" >"$marker"
    rm -rf "$work"
    trap - EXIT
}

# Link the unpacked binaries where every shell and dockerd itself find them.
link_binaries() {
    local bin
    for bin in usr/bin/docker usr/sbin/dockerd usr/sbin/docker-proxy \
        usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/ctr usr/bin/kustomize; do
        ln -sfn "$DOCKER_PREFIX/$bin" "/usr/local/bin/${bin##*/}"
    done
    # Debian's dockerd runs `docker-init` for `init: true`: tini, from Debian 12.
    ln -sfn /usr/bin/tini-static /usr/local/bin/docker-init
    mkdir -p "$PLUGIN_DIR"
    ln -sfn "$DOCKER_PREFIX/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN_DIR/"
    ln -sfn "$DOCKER_PREFIX/usr/libexec/docker/cli-plugins/docker-buildx" "$PLUGIN_DIR/"
    # sid's runc would need glibc 2.38: it must never shadow Debian 12's.
    [[ $(command -v runc) == /usr/sbin/runc || $(command -v runc) == /usr/bin/runc ]] ||
        die "runc on PATH is $(command -v runc), expected Debian 12's /usr/sbin/runc"
}

engine_major() {
    local version
    version=$(docker version --format '{{.Server.Version}}' 2>/dev/null) || return 1
    printf '%s\n' "${version%%.*}"
}

stop_old_engine() {
    local major
    major=$(engine_major) || return 0
    ((major >= MIN_ENGINE)) && return 0
    log "stopping the Docker engine $major.x that answers (needs >= $MIN_ENGINE)"
    pkill -x dockerd || true
    local deadline=$((SECONDS + 30))
    while pgrep -x dockerd >/dev/null; do
        ((SECONDS < deadline)) || die "the old dockerd did not stop within 30 s"
        sleep 0.5
    done
    pkill -x containerd || true
}

engine_answers() { docker info >/dev/null 2>&1; }

start_dockerd() {
    if engine_answers; then
        log "Docker engine already answers"
        return
    fi
    # A dockerd that is still starting (another run's) is left alone:
    # starting a second one would fight over the pid file and socket.
    if pgrep -x dockerd >/dev/null 2>&1; then
        log "dockerd is running but not answering yet; waiting for it"
    else
        log "starting dockerd (log: $DOCKERD_LOG)"
        mkdir -p "$(dirname "$DOCKERD_LOG")"
        # setsid + nohup: the engine must outlive this script and its
        # terminal's signals; the caller's later steps need it.
        setsid nohup /usr/local/bin/dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    local deadline=$((SECONDS + DOCKERD_WAIT))
    until engine_answers; do
        if ((SECONDS >= deadline)); then
            log "last lines of $DOCKERD_LOG:"
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "Docker engine did not answer 'docker info' within ${DOCKERD_WAIT}s"
        fi
        sleep 0.5
    done
    log "Docker engine is up"
}

print_versions() {
    local major
    major=$(engine_major) || die "'docker version' cannot reach the engine"
    ((major >= MIN_ENGINE)) || die "engine $major.x answers; expected >= $MIN_ENGINE"
    printf 'docker engine:  %s (CLI %s)\n' \
        "$(docker version --format '{{.Server.Version}}')" "$(docker version --format '{{.Client.Version}}')"
    printf 'containerd:     %s\n' "$(containerd --version | awk '{print $3}')"
    printf 'runc:           %s\n' "$(runc --version | head -n1)"
    printf 'docker compose: %s\n' "$(docker compose version --short)"
    printf 'docker buildx:  %s\n' "$(docker buildx version)"
}

main() {
    [[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts dockerd)"
    local started=$SECONDS
    install_debian12_packages
    unpack_sid_packages
    link_binaries
    stop_old_engine
    start_dockerd
    print_versions
    log "done in $((SECONDS - started))s"
}

main "$@"
