#!/usr/bin/env bash
# Install and start a MariaDB server on this host for the test tier that runs
# the baked project's suite against a real server; create the account the
# tests use. Idempotent: a server that already answers is reused.
set -euo pipefail

user=template
password=template

if ! command -v mariadbd >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client >/dev/null
fi

if ! mariadb-admin --protocol=socket ping >/dev/null 2>&1; then
    # No systemd here: the package's init script starts mysqld_safe.
    service mariadb start >/dev/null
fi
for _ in $(seq 60); do
    mariadb-admin --protocol=socket ping >/dev/null 2>&1 && break
    sleep 1
done
mariadb-admin --protocol=socket ping >/dev/null

# One account with rights on every database named template_*: each test run
# creates and drops its own.
mariadb --protocol=socket -uroot <<SQL
CREATE USER IF NOT EXISTS '${user}'@'127.0.0.1' IDENTIFIED BY '${password}';
CREATE USER IF NOT EXISTS '${user}'@'localhost' IDENTIFIED BY '${password}';
GRANT ALL PRIVILEGES ON \`template\\_%\`.* TO '${user}'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`template\\_%\`.* TO '${user}'@'localhost';
SQL
echo "MYSQL_TEST_SERVER_URL=mysql+pymysql://${user}:${password}@127.0.0.1:3306/"
mariadb --version
