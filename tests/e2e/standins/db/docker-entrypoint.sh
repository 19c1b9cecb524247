#!/usr/bin/env bash
# Entrypoint of the stand-in database image (Debian's MariaDB, no registry).
#
# It reproduces the parts of the official mysql image's entrypoint that the
# project's compose file and tests rely on (see README.md next to this file):
#   - `docker run IMAGE --flag` runs the server with that flag; any other
#     command (bash, mysql, ...) is exec'd as is.
#   - As root it fixes ownership of the data dir and re-runs itself as mysql.
#   - First init happens only when $DATADIR/mysql is missing; a non-empty data
#     dir without it is refused with mysqld's own MY-010457 message.
#   - MYSQL_ROOT_PASSWORD / _ALLOW_EMPTY_PASSWORD / _RANDOM_ROOT_PASSWORD,
#     MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD (also *_FILE and the
#     MARIADB_* spellings) apply at first init only.
#   - First init runs a temporary server with --skip-networking (socket
#     only), processes /docker-entrypoint-initdb.d/, stops it, and then
#     exec's the real server so it is PID 1 and receives SIGTERM.
# Stand-in only knob: STANDIN_INIT_PAUSE=<seconds> keeps the temporary
# server up that long after init, so tests can observe an early healthcheck.
set -Eeuo pipefail
shopt -s nullglob

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
INITDB_DIR=/docker-entrypoint-initdb.d

# Log lines shaped like the official entrypoint's, on stderr like the server's.
_log() {
    local type=$1
    shift
    printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$type" "$*" >&2
}
mysql_note() { _log Note "$@"; }
mysql_warn() { _log Warn "$@"; }
mysql_error() {
    _log ERROR "$@"
    exit 1
}

# Mimic a line written by mysqld itself (timestamp, thread 0, MY- code).
_server_error() {
    printf '%s 0 [ERROR] [%s] [Server] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)" "$1" "$2" >&2
}

# Read VAR from VAR_FILE if given (docker secrets), like the official image.
file_env() {
    local var=$1 file_var="${1}_FILE" def=${2:-}
    if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
        mysql_error "both $var and $file_var are set (but are exclusive)"
    fi
    local val=$def
    if [[ -n ${!var:-} ]]; then
        val=${!var}
    elif [[ -n ${!file_var:-} ]]; then
        val=$(<"${!file_var}")
    fi
    export "$var"="$val"
    unset "$file_var"
}

# The MariaDB image spells the variables MARIADB_*; accept both names.
adopt_mariadb_names() {
    local name
    for name in ROOT_PASSWORD ALLOW_EMPTY_PASSWORD RANDOM_ROOT_PASSWORD \
        DATABASE USER PASSWORD ROOT_PASSWORD_FILE PASSWORD_FILE; do
        local mysql_var="MYSQL_$name" mariadb_var="MARIADB_$name"
        if [[ -z ${!mysql_var:-} && -n ${!mariadb_var:-} ]]; then
            export "$mysql_var"="${!mariadb_var}"
        fi
    done
    # MariaDB also spells "allow empty password" this way.
    if [[ -z ${MYSQL_ALLOW_EMPTY_PASSWORD:-} && -n ${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-} ]]; then
        export MYSQL_ALLOW_EMPTY_PASSWORD=$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
    fi
}

setup_env() {
    adopt_mariadb_names
    file_env MYSQL_ROOT_PASSWORD
    file_env MYSQL_PASSWORD
    file_env MYSQL_DATABASE
    file_env MYSQL_USER
    : "${MYSQL_ALLOW_EMPTY_PASSWORD:=}" "${MYSQL_RANDOM_ROOT_PASSWORD:=}"
    DATABASE_ALREADY_EXISTS=
    if [[ -d $DATADIR/mysql ]]; then
        DATABASE_ALREADY_EXISTS=true
    fi
}

# Refuse to start a first init without a way to log in as root.
verify_minimum_env() {
    if [[ -z $MYSQL_ROOT_PASSWORD && -z $MYSQL_ALLOW_EMPTY_PASSWORD && -z $MYSQL_RANDOM_ROOT_PASSWORD ]]; then
        mysql_error $'Database is uninitialized and password option is not specified\n\tYou need to specify one of the following as an environment variable:\n\t- MYSQL_ROOT_PASSWORD\n\t- MYSQL_ALLOW_EMPTY_PASSWORD\n\t- MYSQL_RANDOM_ROOT_PASSWORD'
    fi
    if [[ ${MYSQL_USER:-} == root ]]; then
        mysql_error $'MYSQL_USER="root", MYSQL_USER and MYSQL_PASSWORD are for configuring a regular user and cannot be used for the root user\n\tRemove MYSQL_USER="root" and use one of the following to control the root user password:\n\t- MYSQL_ROOT_PASSWORD\n\t- MYSQL_ALLOW_EMPTY_PASSWORD\n\t- MYSQL_RANDOM_ROOT_PASSWORD'
    fi
    if [[ -n ${MYSQL_USER:-} && -z ${MYSQL_PASSWORD:-} ]]; then
        mysql_error 'MYSQL_USER specified, but missing MYSQL_PASSWORD; MYSQL_USER will not be created'
    fi
}

# mysqld --initialize aborts on a data dir with anything in it (.gitkeep,
# lost+found, a half-finished init); mariadb-install-db would carry on, so
# reproduce mysqld's refusal and its exact messages.
refuse_non_empty_datadir() {
    local entries=("$DATADIR"/* "$DATADIR"/.[!.]* "$DATADIR"/..?*)
    if ((${#entries[@]} > 0)); then
        _server_error MY-010457 '--initialize specified but the data directory has files in it. Aborting.'
        _server_error MY-013236 "The designated data directory $DATADIR/ is unusable. You can remove all files that the server added to it."
        _server_error MY-010119 'Aborting'
        exit 1
    fi
}

# As root: make the data dir (maybe a bind mount Docker just created as root)
# and the socket dir belong to mysql, as the official image does.
create_db_directories() {
    mkdir -p "$DATADIR" /run/mysqld
    if [[ $(id -u) -eq 0 ]]; then
        find "$DATADIR" /run/mysqld \! -user mysql -exec chown mysql:mysql '{}' +
    fi
}

init_database_dir() {
    mysql_note 'Initializing database files'
    # Server args are passed on so that e.g. a collation choice is validated
    # at init like with mysqld --initialize.
    mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve --default-time-zone=SYSTEM \
        --skip-log-bin --expire-logs-days=0 "${@:2}" >/dev/null
    mysql_note 'Database files initialized'
}

temp_server_start() {
    mysql_note 'Starting temporary server'
    "$@" --skip-networking --socket="$SOCKET" --default-time-zone=SYSTEM \
        --skip-log-bin --expire-logs-days=0 &
    TEMP_SERVER_PID=$!
    local i
    for ((i = 60; i > 0; i--)); do
        if mariadb --protocol=socket --socket="$SOCKET" -uroot \
            -e 'SELECT 1' >/dev/null 2>&1; then
            break
        fi
        kill -0 "$TEMP_SERVER_PID" 2>/dev/null || mysql_error 'Unable to start server.'
        sleep 1
    done
    ((i > 0)) || mysql_error 'Unable to start server.'
    mysql_note 'Temporary server started.'
}

temp_server_stop() {
    mysql_note 'Stopping temporary server'
    # SIGTERM is mariadbd's clean shutdown; wait so the data is flushed.
    kill "$TEMP_SERVER_PID"
    wait "$TEMP_SERVER_PID" || mysql_error 'Unable to shut down server.'
    mysql_note 'Temporary server stopped'
}

# Client options as root over the socket; the password goes in an option
# file on a pipe so it never shows up in `ps`.
_client_passfile() {
    printf '[client]\npassword="%s"\n' "$(sql_escape "${MYSQL_ROOT_PASSWORD:-}")"
}

# Run SQL from stdin as root (default database: MYSQL_DATABASE, or --database=X
# as first argument). Initdb scripts may call it, as with the official image.
docker_process_sql() {
    local db_args=()
    if [[ ${1:-} == --database=* ]]; then
        db_args=("$1")
        shift
    elif [[ -n ${MYSQL_DATABASE:-} ]]; then
        db_args=(--database="$MYSQL_DATABASE")
    fi
    mariadb --defaults-extra-file=<(_client_passfile) --protocol=socket --socket="$SOCKET" \
        -uroot --comments "${db_args[@]}" "$@"
}

# Escape a value for a single-quoted SQL string literal.
sql_escape() {
    local s=${1//\\/\\\\}
    s=${s//$'\n'/\\n}
    printf '%s' "${s//\'/\\\'}"
}

# Root password, root@'%', the database and the app user: first init only.
setup_db() {
    local root_pw
    if [[ -n $MYSQL_RANDOM_ROOT_PASSWORD ]]; then
        MYSQL_ROOT_PASSWORD=$(head -c 18 /dev/urandom | base64)
        export MYSQL_ROOT_PASSWORD
        mysql_note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
    fi
    root_pw=$(sql_escape "$MYSQL_ROOT_PASSWORD")
    # Root still has an empty password here, so log in without one.
    # Only root@localhost stays; root@'%' replaces the 127.0.0.1/::1/hostname
    # rows (the official image's MYSQL_ROOT_HOST default).
    mariadb --protocol=socket --socket="$SOCKET" -uroot --database=mysql <<-EOSQL
		SET SESSION sql_log_bin=0;
		DELETE FROM mysql.global_priv WHERE user = '' OR (user = 'root' AND host <> 'localhost');
		DELETE FROM mysql.proxies_priv WHERE host <> 'localhost';
		FLUSH PRIVILEGES;
		ALTER USER 'root'@'localhost' IDENTIFIED BY '${root_pw}';
		CREATE USER 'root'@'%' IDENTIFIED BY '${root_pw}';
		GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
	EOSQL
    if [[ -n ${MYSQL_DATABASE:-} ]]; then
        mysql_note "Creating database ${MYSQL_DATABASE}"
        docker_process_sql --database=mysql <<<"CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE//\`/\`\`}\`;"
    fi
    if [[ -n ${MYSQL_USER:-} && -n ${MYSQL_PASSWORD:-} ]]; then
        mysql_note "Creating user ${MYSQL_USER}"
        docker_process_sql --database=mysql <<<"CREATE USER '$(sql_escape "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_escape "$MYSQL_PASSWORD")';"
        if [[ -n ${MYSQL_DATABASE:-} ]]; then
            mysql_note "Giving user ${MYSQL_USER} access to schema ${MYSQL_DATABASE}"
            # `_` is a wildcard in GRANT's db name; escape it like the official image.
            local db=${MYSQL_DATABASE//\`/\`\`}
            docker_process_sql --database=mysql <<<"GRANT ALL ON \`${db//_/\\_}\`.* TO '$(sql_escape "$MYSQL_USER")'@'%';"
        fi
    fi
}

# Run /docker-entrypoint-initdb.d/* in glob (sorted) order, like the official image.
process_init_files() {
    local f
    for f in "$@"; do
        case $f in
            *.sh)
                if [[ -x $f ]]; then
                    mysql_note "$0: running $f"
                    "$f"
                else
                    mysql_note "$0: sourcing $f"
                    # shellcheck disable=SC1090  # user-provided init script
                    . "$f"
                fi
                ;;
            *.sql)
                mysql_note "$0: running $f"
                docker_process_sql <"$f"
                ;;
            *.sql.gz)
                mysql_note "$0: running $f"
                gzip -dc "$f" | docker_process_sql
                ;;
            *) mysql_warn "$0: ignoring $f" ;;
        esac
    done
}

first_init() {
    verify_minimum_env
    refuse_non_empty_datadir
    init_database_dir "$@"
    temp_server_start "$@"
    setup_db
    process_init_files "$INITDB_DIR"/*
    local pause=${STANDIN_INIT_PAUSE:-0}
    if [[ $pause != 0 ]]; then
        mysql_note "STANDIN_INIT_PAUSE: temporary (socket-only) server stays up for ${pause}s"
        sleep "$pause"
    fi
    temp_server_stop
    mysql_note 'MySQL init process done. Ready for start up.'
}

main() {
    # `docker run IMAGE --some-flag` means "the server, with this flag".
    if [[ ${1:-} == -* ]]; then
        set -- mysqld "$@"
    fi
    if [[ ${1:-} != mysqld && ${1:-} != mariadbd ]]; then
        exec "$@"
    fi
    # Both names run the same server binary.
    set -- mariadbd "${@:2}"
    # --help/--version only print: no init, no user switch (as upstream).
    local arg
    for arg in "${@:2}"; do
        case ${arg} in
            -'?' | --help | --print-defaults | -V | --version) exec "$@" ;;
            *) ;;
        esac
    done
    local version
    version=$(mariadbd --version)
    version=${version#*Ver }
    mysql_note "Entrypoint script for the MySQL stand-in (MariaDB ${version%% *}) started."
    setup_env
    create_db_directories
    if [[ $(id -u) -eq 0 ]]; then
        mysql_note 'Switching to dedicated user mysql'
        exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
    fi
    if [[ -z $DATABASE_ALREADY_EXISTS ]]; then
        first_init "$@"
    else
        mysql_note 'Database files found; skipping initialization.'
    fi
    exec "$@"
}

main "$@"
