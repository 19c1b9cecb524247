#!/usr/bin/env bash
# Start the real database servers that the baked suite's server tier runs on:
# containers of the stand-in images (MySQL 9.7 for the mysql-* options,
# MariaDB 11.8 for mariadb-11.8), each with an account that may create and
# drop the databases named template_*. Prints MYSQL_TEST_SERVER_URL=... and
# MARIADB_TEST_SERVER_URL=... for eval. Idempotent: a container of the
# current image that is running is reused. Needs a Docker engine (.ci/docker-up.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[db-servers-up] %s\n' "$*" >&2; }

# MYSQL_IMAGE and MARIADB_IMAGE, built if missing.
eval "$(python3 tests/e2e/standins/build.py)"

# $1 container, $2 image, $3 host port, $4 client name, $5 variable to print.
start_server() {
    local name=$1 image=$2 port=$3 client=$4
    # Reuse only a running container of the current image: one left stopped
    # by an engine restart is started afresh, never waited on.
    if [[ $(docker inspect -f '{{.Config.Image}} {{.State.Running}}' "$name" 2>/dev/null) \
        != "$image true" ]]; then
        docker rm -f "$name" >/dev/null 2>&1 || true
        log "starting $name ($image) on 127.0.0.1:$port"
        docker run --detach --name "$name" --publish "127.0.0.1:$port:3306" \
            --env MYSQL_ROOT_PASSWORD=root "$image" >/dev/null
    fi
    # Over TCP: the temporary server of the first init listens on a socket only.
    local deadline=$((SECONDS + 180))
    until docker exec "$name" "$client" --protocol=TCP -h127.0.0.1 -uroot -proot \
        -e 'SELECT 1' >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            docker logs --tail 30 "$name" >&2
            log "ERROR: $name did not accept connections within 180 s"
            exit 1
        fi
        sleep 0.5
    done
    docker exec -i "$name" "$client" -uroot -proot 2>/dev/null <<'SQL'
CREATE USER IF NOT EXISTS 'template'@'%' IDENTIFIED BY 'template';
GRANT ALL PRIVILEGES ON `template\_%`.* TO 'template'@'%';
SQL
    log "$name: $(docker exec "$name" "$client" -uroot -proot -N -e 'SELECT VERSION()' 2>/dev/null)"
    echo "$5=mysql+pymysql://template:template@127.0.0.1:$port/"
}

start_server ci-mysql "$MYSQL_IMAGE" 3316 mysql MYSQL_TEST_SERVER_URL
start_server ci-mariadb "$MARIADB_IMAGE" 3317 mariadb MARIADB_TEST_SERVER_URL
