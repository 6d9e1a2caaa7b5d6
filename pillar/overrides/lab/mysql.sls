# Lab only (LOSTOPS_INVENTORY=lab): no MySQL 8.0 exists here (no package; it
# reached end of life in April 2026). The database is Oracle MySQL 9.7 (Debian
# sid `mysql-server-core`), the same server family a step beyond 8.4 LTS, in a
# lab image that mimics the official mysql image: `docker-entrypoint.sh mysqld`
# honouring MYSQL_ROOT_PASSWORD(_FILE), MYSQL_ROOT_HOST, MYSQL_DATABASE and
# /docker-entrypoint-initdb.d, /etc/my.cnf with /etc/mysql/conf.d/, data in
# /var/lib/mysql, user mysql = 999, the real mysql/mysqladmin/mysqldump
# (tests/lab/images/mysql.py). The production compose file, lostops.cnf,
# root.cnf, users.sql, the health check and the backup run as rendered: every
# line that differs from production is below, with its reason (docs/lab.md).
images:
  # No image can be pulled here: the lab image of MySQL 9.7 (production: mysql:8.0.x).
  mysql: {name: localhost/lostops-lab-mysql, tag: lab, digest: ''}
