#!/bin/sh
# Creates (when missing) and upgrades the Temporal server's two databases in Postgres: `temporal` and
# `temporal_visibility`. Every step is idempotent, so this runs before each start of the server.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
port=${DB_PORT:-5432}
schemas=/etc/temporal/schema/postgresql/v12

until nc -z "$POSTGRES_SEEDS" "$port"; do echo "waiting for Postgres at $POSTGRES_SEEDS:$port"; sleep 2; done

for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*}
  dir=${db#*:}
  sql="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -p $port -u $POSTGRES_USER --db $name"
  $sql create
  $sql setup-schema -v 0.0
  $sql update-schema -d "$schemas/$dir/versioned"
done
echo 'Temporal schema up to date'
