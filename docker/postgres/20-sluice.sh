#!/bin/sh
# The CDC user for Sluice and one publication per pipeline of docker/sluice.yaml
# (created here by the superuser, so Sluice needs no ownership of the tables).
# The password comes from the environment (SLUICE_PG_PASSWORD in docker-compose.yml).
# No `set -u` here: the image's entrypoint sources scripts that are not executable, and the
# option would stay on in its shell. ON_ERROR_STOP makes a failed statement fail psql.
psql -v ON_ERROR_STOP=1 -v pw="$SLUICE_PG_PASSWORD" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE sluice WITH LOGIN REPLICATION PASSWORD :'pw';
GRANT USAGE ON SCHEMA public TO sluice;
GRANT SELECT ON public.customers, public.orders TO sluice;
CREATE PUBLICATION sluice_shop_kafka FOR TABLE public.customers, public.orders;
CREATE PUBLICATION sluice_shop_redis FOR TABLE public.customers, public.orders;
SQL
