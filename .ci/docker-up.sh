#!/usr/bin/env bash
# Make a Docker engine, Compose v1, Compose v2 and buildx usable on Debian 12.
#
# Idempotent: on a warm machine (everything installed, dockerd up) it only
# checks and prints versions. On a fresh machine it installs docker.io,
# docker-compose (v1) and debootstrap from Debian 12, takes the Compose v2 and
# buildx CLI plugins from Debian 13 packages (Debian 12 has neither), and starts
# dockerd in the background (there is no systemd here).
#
# Needs root; re-runs itself through sudo otherwise. Tunables (environment):
#   DOCKERD_LOG          where dockerd logs      (default /var/log/dockerd.log)
#   DOCKERD_WAIT         seconds to wait for it  (default 60)
#   DEBIAN_MIRROR        mirror for trixie debs  (default: the host's, else deb.debian.org)
#   DOCKER_PLUGIN_DIR    system-wide CLI plugin dir (default /usr/local/lib/docker/cli-plugins)
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    exec sudo -E "$0" "$@"
fi

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
DOCKERD_WAIT=${DOCKERD_WAIT:-60}
# A system-wide dir that both Debian's docker 20.10 CLI and a newer CLI search,
# so the plugins work whatever user or HOME runs docker.
DOCKER_PLUGIN_DIR=${DOCKER_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}
DEBIAN12_PACKAGES=(docker.io docker-compose debootstrap)
export DEBIAN_FRONTEND=noninteractive

log() { printf '[docker-up] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

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
            /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '{print $2}' | head -n1 || true)
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

plugins_work() {
    docker compose version >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1
}

# Fetch docker-compose (v2) and docker-buildx from trixie and install their
# CLI plugin binaries. apt gets a private sources list and state dir so the
# host's own apt configuration never sees trixie.
install_trixie_plugins() {
    if plugins_work; then
        log "docker compose and docker buildx plugins already work"
        return
    fi
    local work mirror
    work=$(mktemp -d)
    # Scoped to this function; expands now on purpose, cleaned at exit.
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    mirror=${DEBIAN_MIRROR:-$(host_debian_mirror)}
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
    # apt downloads as the unprivileged _apt user into the current dir.
    chmod 755 "$work"
    if id _apt >/dev/null 2>&1; then chown _apt "$work/debs"; fi
    printf 'deb %s trixie main\n' "$mirror" >"$work/trixie.list"
    local apt_opts=(
        -o "Dir::Etc::sourcelist=$work/trixie.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$work/lists"
        -o "Dir::Cache=$work/cache"
        -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
        -o "APT::Get::List-Cleanup=0"
    )
    log "fetching docker-compose (v2) and docker-buildx from trixie ($mirror)"
    apt-get "${apt_opts[@]}" update -qq
    (cd "$work/debs" && apt-get "${apt_opts[@]}" download docker-compose docker-buildx -qq)
    local deb
    for deb in "$work"/debs/*.deb; do
        dpkg -x "$deb" "$work/root"
    done
    mkdir -p "$DOCKER_PLUGIN_DIR"
    install -m 0755 "$work"/root/usr/libexec/docker/cli-plugins/* "$DOCKER_PLUGIN_DIR/"
    rm -rf "$work"
    trap - EXIT
    plugins_work || die "plugins installed in $DOCKER_PLUGIN_DIR but 'docker compose version' still fails"
}

engine_answers() { docker info >/dev/null 2>&1; }

start_dockerd() {
    if engine_answers; then
        log "Docker engine already answers"
        return
    fi
    # A dockerd that is still starting (another run, or the host's) is left
    # alone: starting a second one would fight over the pid file and socket.
    if pgrep -x dockerd >/dev/null 2>&1; then
        log "dockerd is running but not answering yet; waiting for it"
    else
        log "starting dockerd (log: $DOCKERD_LOG)"
        mkdir -p "$(dirname "$DOCKERD_LOG")"
        # setsid + nohup: the engine must outlive this script and its
        # terminal's signals; the caller's later steps need it.
        setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    local deadline=$((SECONDS + DOCKERD_WAIT))
    until engine_answers; do
        if ((SECONDS >= deadline)); then
            log "last lines of $DOCKERD_LOG:"
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "Docker engine did not answer 'docker info' within ${DOCKERD_WAIT}s"
        fi
        sleep 1
    done
    log "Docker engine is up after $((SECONDS - deadline + DOCKERD_WAIT))s"
}

print_versions() {
    local server
    server=$(docker version --format '{{.Server.Version}}' 2>/dev/null) \
        || die "'docker version' cannot reach the engine"
    printf 'docker:         %s (CLI %s, engine %s)\n' \
        "$(command -v docker)" "$(docker version --format '{{.Client.Version}}')" "$server"
    command -v docker-compose >/dev/null || die "docker-compose (v1) is not on PATH"
    printf 'docker-compose: %s\n' "$(docker-compose version --short)"
    printf 'docker compose: %s\n' "$(docker compose version --short)"
    printf 'docker buildx:  %s\n' "$(docker buildx version)"
}

main() {
    local started=$SECONDS
    install_debian12_packages
    command -v docker >/dev/null || die "no docker CLI on PATH after installing docker.io"
    install_trixie_plugins
    start_dockerd
    print_versions
    log "done in $((SECONDS - started))s"
}

main "$@"
