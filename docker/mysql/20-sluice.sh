#!/bin/bash
# The CDC user for Sluice. Keep this file NOT executable: the mysql image's entrypoint
# then sources it, and docker_process_sql (its function) is defined. The password comes
# from SLUICE_MYSQL_PASSWORD in docker-compose.yml.
# RELOAD: MySQL's consistent snapshot takes a brief global read lock.
docker_process_sql <<SQL
CREATE USER 'sluice'@'%' IDENTIFIED BY '${SLUICE_MYSQL_PASSWORD}';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, RELOAD, SELECT ON *.* TO 'sluice'@'%';
SQL
