#!/bin/sh
# Run by the database image at first init only (/docker-entrypoint-initdb.d):
# a separate database for `make test`, so tests never touch the dev data.
set -eu

client=mysql
if command -v mariadb >/dev/null 2>&1; then
    client=mariadb  # MariaDB 11 images have no `mysql` name
fi

database="${MYSQL_DATABASE}_test"
# "_" is a wildcard in a GRANT's database name: escape it, as the image does.
pattern=$(printf '%s' "${database}" | sed 's/_/\\_/g')
"${client}" --protocol=socket --user=root --password="${MYSQL_ROOT_PASSWORD}" <<SQL
CREATE DATABASE IF NOT EXISTS \`${database}\`;
GRANT ALL PRIVILEGES ON \`${pattern}\`.* TO '${MYSQL_USER}'@'%';
SQL
echo "created database ${database} for the tests"
