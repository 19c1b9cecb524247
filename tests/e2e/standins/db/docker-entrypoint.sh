#!/usr/bin/env bash
# Entrypoint of the stand-in database images: the official mysql and mariadb
# images' entrypoint contract (README.md beside this file) around Debian's
# real servers, MySQL 9.7 or MariaDB 11.8, whichever the image holds.
#
#   - `IMAGE --flag` runs the server with that flag; any other command is
#     exec'd as is.
#   - As root it makes the data dir mysql's and re-runs itself as mysql.
#   - First init only when $DATADIR/mysql is missing: the server's own
#     initialisation (mysqld --initialize-insecure refuses a data dir that
#     holds files itself; mariadb-install-db does not), then a temporary
#     socket-only server for the root password, MYSQL_DATABASE, MYSQL_USER
#     and /docker-entrypoint-initdb.d/, then the real server as PID 1.
# Stand-in only: STANDIN_INIT_PAUSE=<seconds> keeps the temporary server up
# that long after init, so a test can watch an early healthcheck.
set -Eeuo pipefail
shopt -s nullglob

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
if command -v mariadbd >/dev/null; then
    SERVER=mariadbd CLIENT=mariadb
else
    SERVER=mysqld CLIENT=mysql
fi

note() { printf '%s [Note] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*" >&2; }
error() {
    printf '%s [ERROR] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*" >&2
    exit 1
}

# VAR from VAR_FILE (Docker secrets), or from MARIADB_VAR, like the images.
# The file is read as root, before the switch to mysql (a secret file may be
# root's alone); VAR_FILE is then unset, as the images do, so the re-run as
# mysql sees VAR only and does not take it for both set.
file_env() {
    local var=$1 file_var="${1}_FILE" mariadb_var="MARIADB_${1#MYSQL_}"
    local mariadb_file_var="${mariadb_var}_FILE"
    if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
        error "both $var and $file_var are set (but are exclusive)"
    fi
    local val=${!var:-${!mariadb_var:-}}
    local file=${!file_var:-${!mariadb_file_var:-}}
    [[ -z $val && -n $file ]] && val=$(<"$file")
    export "$var"="$val"
    unset "$file_var" "$mariadb_file_var"
}

setup_env() {
    local name
    for name in ROOT_PASSWORD ALLOW_EMPTY_PASSWORD RANDOM_ROOT_PASSWORD DATABASE USER PASSWORD; do
        file_env "MYSQL_$name"
    done
    : "${MYSQL_ALLOW_EMPTY_PASSWORD:=${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}}"
}

verify_minimum_env() {
    if [[ -z $MYSQL_ROOT_PASSWORD && -z $MYSQL_ALLOW_EMPTY_PASSWORD && -z $MYSQL_RANDOM_ROOT_PASSWORD ]]; then
        error $'Database is uninitialized and password option is not specified\n\tYou need to specify one of the following as an environment variable:\n\t- MYSQL_ROOT_PASSWORD\n\t- MYSQL_ALLOW_EMPTY_PASSWORD\n\t- MYSQL_RANDOM_ROOT_PASSWORD'
    fi
    [[ $MYSQL_USER != root ]] || error 'MYSQL_USER="root", MYSQL_USER and MYSQL_PASSWORD are for configuring a regular user and cannot be used for the root user'
    [[ -z $MYSQL_USER || -n $MYSQL_PASSWORD ]] || error 'MYSQL_USER specified, but missing MYSQL_PASSWORD; MYSQL_USER will not be created'
}

init_datadir() {
    note 'Initializing database files'
    if [[ $SERVER == mysqld ]]; then
        "$@" --initialize-insecure --default-time-zone=SYSTEM
    else
        mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
            --skip-test-db --skip-name-resolve "${@:2}" >/dev/null
    fi
    note 'Database files initialized'
}

temp_server_start() {
    note 'Starting temporary server'
    "$@" --skip-networking --socket="$SOCKET" --default-time-zone=SYSTEM &
    TEMP_SERVER_PID=$!
    local deadline=$((SECONDS + 60))
    until "$CLIENT" --protocol=socket --socket="$SOCKET" -uroot -e 'SELECT 1' >/dev/null 2>&1; do
        kill -0 "$TEMP_SERVER_PID" 2>/dev/null || error 'Unable to start server.'
        ((SECONDS < deadline)) || error 'Unable to start server.'
        sleep 0.2
    done
    note 'Temporary server started.'
}

temp_server_stop() {
    note 'Stopping temporary server'
    # SIGTERM is a clean shutdown for both servers; wait so the data is flushed.
    kill "$TEMP_SERVER_PID"
    wait "$TEMP_SERVER_PID" || error 'Unable to shut down server.'
    note 'Temporary server stopped'
}

# Escape a value for a single-quoted SQL string literal.
sql_escape() {
    local s=${1//\\/\\\\}
    printf '%s' "${s//\'/\\\'}"
}

# Run SQL from stdin as root on the socket; default database MYSQL_DATABASE
# unless the first argument is --database=X. Init scripts may call it.
docker_process_sql() {
    local db=(--database="$MYSQL_DATABASE")
    if [[ ${1:-} == --database=* ]]; then
        db=("$1")
        shift
    fi
    [[ -n ${db[0]#--database=} ]] || db=()
    # The password reaches the client through a pipe, never the command line.
    "$CLIENT" --defaults-extra-file=<(printf '[client]\npassword="%s"\n' "$(sql_escape "$MYSQL_ROOT_PASSWORD")") \
        --protocol=socket --socket="$SOCKET" -uroot --comments "${db[@]}" "$@"
}

# Root's password and root@'%', the database, the app user: as the images do,
# with binary logging off for the session so no GTIDs are spent on it.
setup_db() {
    if [[ -n $MYSQL_RANDOM_ROOT_PASSWORD ]]; then
        MYSQL_ROOT_PASSWORD=$(head -c 18 /dev/urandom | base64)
        note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
    fi
    local root_pw extra_roots=
    root_pw=$(sql_escape "$MYSQL_ROOT_PASSWORD")
    # mariadb-install-db also makes root@127.0.0.1, root@::1 and anonymous users.
    [[ $SERVER == mariadbd ]] &&
        extra_roots="DELETE FROM mysql.global_priv WHERE user = '' OR (user = 'root' AND host <> 'localhost'); FLUSH PRIVILEGES;"
    # Root still has no password here.
    "$CLIENT" --protocol=socket --socket="$SOCKET" -uroot --database=mysql <<-EOSQL
		SET SESSION sql_log_bin = 0;
		${extra_roots}
		ALTER USER 'root'@'localhost' IDENTIFIED BY '${root_pw}';
		CREATE USER 'root'@'%' IDENTIFIED BY '${root_pw}';
		GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
	EOSQL
    local name=${MYSQL_DATABASE//\`/\`\`} user grant=
    user=$(sql_escape "$MYSQL_USER")
    # `_` is a wildcard in a GRANT's database name: escaped, as the images do.
    [[ -n $name ]] && grant="GRANT ALL ON \`${name//_/\\_}\`.* TO '$user'@'%';"
    if [[ -n $name ]]; then
        note "Creating database ${MYSQL_DATABASE}"
        docker_process_sql --database=mysql <<<"SET SESSION sql_log_bin = 0; CREATE DATABASE IF NOT EXISTS \`$name\`;"
    fi
    if [[ -n $MYSQL_USER ]]; then
        note "Creating user ${MYSQL_USER}"
        docker_process_sql --database=mysql <<-EOSQL
			SET SESSION sql_log_bin = 0;
			CREATE USER '$user'@'%' IDENTIFIED BY '$(sql_escape "$MYSQL_PASSWORD")';
			${grant}
		EOSQL
    fi
}

# /docker-entrypoint-initdb.d/* in sorted order, like the official images.
process_init_files() {
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        case $f in
            *.sh)
                note "$0: running $f"
                if [[ -x $f ]]; then "$f"; else
                    # shellcheck disable=SC1090 # the user's init script
                    . "$f"
                fi
                ;;
            *.sql) note "$0: running $f" && docker_process_sql <"$f" ;;
            *.sql.gz) note "$0: running $f" && gzip -dc "$f" | docker_process_sql ;;
            *) note "$0: ignoring $f" ;;
        esac
    done
}

first_init() {
    verify_minimum_env
    init_datadir "$@"
    temp_server_start "$@"
    setup_db
    process_init_files
    if [[ ${STANDIN_INIT_PAUSE:-0} != 0 ]]; then
        note "STANDIN_INIT_PAUSE: the temporary (socket-only) server stays up ${STANDIN_INIT_PAUSE}s"
        sleep "$STANDIN_INIT_PAUSE"
    fi
    temp_server_stop
    note 'MySQL init process done. Ready for start up.'
}

main() {
    [[ ${1:-} == -* ]] && set -- "$SERVER" "$@"
    [[ ${1:-} == mysqld || ${1:-} == mariadbd ]] || exec "$@"
    set -- "$SERVER" "${@:2}"
    local arg
    for arg in "${@:2}"; do
        case $arg in -'?' | --help | --print-defaults | -V | --version) exec "$@" ;; esac
    done
    note "Entrypoint script for the stand-in ($("$SERVER" --version)) started."
    setup_env
    if [[ $(id -u) -eq 0 ]]; then
        # A bind-mounted dir that Docker just created belongs to root.
        mkdir -p "$DATADIR" /run/mysqld
        find "$DATADIR" /run/mysqld \! -user mysql -exec chown mysql:mysql '{}' +
        note 'Switching to dedicated user mysql'
        exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
    fi
    if [[ -d $DATADIR/mysql ]]; then
        note 'Database files found; skipping initialization.'
    else
        first_init "$@"
    fi
    exec "$@"
}

main "$@"
