#!/bin/sh
# Run by the database image at first init only (/docker-entrypoint-initdb.d):
# a separate database for `make test`, so tests never touch the dev data.
set -eu

client=mysql
if command -v mariadb >/dev/null 2>&1; then
    client=mariadb  # MariaDB 11 images have no `mysql` name
fi

"${client}" --protocol=socket --user=root --password="${MYSQL_ROOT_PASSWORD}" <<SQL
CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}_test\`;
GRANT ALL PRIVILEGES ON \`${MYSQL_DATABASE}_test\`.* TO '${MYSQL_USER}'@'%';
SQL
echo "created database ${MYSQL_DATABASE}_test for the tests"
