# Lab only (LOSTOPS_INVENTORY=lab): no MySQL 8.0 exists here. The database is
# MariaDB 11.8 (Debian trixie, MySQL protocol) in a lab image that mimics the
# official mysql image: `docker-entrypoint.sh mysqld` honouring
# MYSQL_ROOT_PASSWORD(_FILE), MYSQL_ROOT_HOST, MYSQL_DATABASE and
# /docker-entrypoint-initdb.d, data in /var/lib/mysql, user mysql = 999,
# /etc/mysql/conf.d/ read, mysql/mysqladmin/mysqldump clients
# (tests/lab/images/mysql.py). It is NOT MySQL 8.0: the production compose file,
# lostops.cnf, users.sql and the health check run as rendered, and what MariaDB
# does not know is either one line below or rewritten by the image's client
# shim (ssl-mode, caching_sha2_password, CIDR account hosts; docs/lab.md).
images:
  mysql: {name: localhost/lostops-lab-mysql, tag: lab, digest: ''}

mysql:
  # MariaDB has no X Protocol and no `mysqlx` option (`mysqlx = OFF` aborts
  # mariadbd); true only drops that line: nothing listens on 33060 either way.
  mysqlx: true
  backup:
    # mariadb-dump has no --set-gtid-purged (a MySQL-only option; MariaDB GTIDs differ).
    extra_args: ['--hex-blob']
