"""The lab database: Oracle MySQL 9.7 (Debian sid `mysql-server-core`) behind the official mysql image's contract.

    localhost/lostops-lab-mysql:lab   MySQL 9.7 on a sid root, the mysql image's entrypoint, paths and user 999

Production runs the official image `mysql:8.0.x`. MySQL 8.0 has no package
here (and reached end of life in April 2026); 9.7 is the same server family
and a step beyond 8.4 LTS, so what needs a lab line is also the upgrade map
(docs/lab.md). What the official image has and this one mimics
(docker-library/mysql, 9.7/Dockerfile.oracle and docker-entrypoint.sh):

- user and group `mysql` = 999:999, home /var/lib/mysql;
- /etc/my.cnf with datadir /var/lib/mysql, the socket and pid file in
  /var/run/mysqld, secure-file-priv /var/lib/mysql-files, `user=mysql`,
  `skip-name-resolve`, and `!includedir /etc/mysql/conf.d/` (empty: Debian's
  own my.cnf and conf.d files are removed);
- `docker-entrypoint.sh mysqld`: on an empty data dir `--initialize-insecure`,
  a temporary server without networking, time zone tables, root's password
  (MYSQL_ROOT_PASSWORD[_FILE]) and MYSQL_ROOT_HOST, MYSQL_DATABASE,
  MYSQL_USER/PASSWORD, /docker-entrypoint-initdb.d; steps down from root to
  mysql (the official image: gosu; here util-linux's setpriv);
- the real `mysql`, `mysqladmin`, `mysqldump` and `mysql_tzinfo_to_sql`.
"""

from __future__ import annotations

from tests.lab.images.recipe import BuildContext, Recipe

# Fixed ids: the official image's mysql user and group.
MYSQL_UID = 999

# The official image's /etc/my.cnf (the Oracle package's, as the Dockerfile edits it).
MY_CNF = """# lostops lab: the official mysql image's /etc/my.cnf (tests/lab/images/mysql.py).
[mysqld]
skip-name-resolve
datadir=/var/lib/mysql
socket=/var/run/mysqld/mysqld.sock
secure-file-priv=/var/lib/mysql-files
user=mysql
pid-file=/var/run/mysqld/mysqld.pid

[client]
socket=/var/run/mysqld/mysqld.sock

!includedir /etc/mysql/conf.d/
"""

# A reduced docker-library/mysql 9.7 entrypoint: the same variables, steps and
# order (config check, directories, step down to mysql, first start only on an
# empty data dir, temporary server on the socket only, `exec mysqld`).
MYSQL_ENTRYPOINT = r"""#!/bin/bash
# lostops lab: Debian's MySQL 9.7 behind the official mysql image's entrypoint contract.
set -eo pipefail
shopt -s nullglob

mysql_log() { printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$1" "${*:2}"; }
mysql_note() { mysql_log Note "$@"; }
mysql_error() { mysql_log ERROR "$@" >&2; exit 1; }

file_env() {
	local var="$1" fileVar="${1}_FILE" def="${2:-}"
	if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then
		mysql_error "Both $var and $fileVar are set (but are exclusive)"
	fi
	local val="$def"
	if [ "${!var:-}" ]; then
		val="${!var}"
	elif [ "${!fileVar:-}" ]; then
		val="$(< "${!fileVar}")"
	fi
	export "$var"="$val"
	unset "$fileVar"
}

_help_args=(--verbose --help --log-bin-index="$(mktemp -u)")
mysql_get_config() {
	local conf="$1"; shift
	"$@" "${_help_args[@]}" 2>/dev/null \
		| awk -v conf="$conf" '$1 == conf && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}

want_help() {
	local arg
	for arg; do
		case "$arg" in -'?'|--help|--print-defaults|-V|--version) return 0 ;; esac
	done
	return 1
}

passfile() {
	if [ "$1" != '--no-password' ] && [ -n "$MYSQL_ROOT_PASSWORD" ]; then
		printf '[client]\npassword="%s"\n' "$MYSQL_ROOT_PASSWORD"
	fi
}

process_sql() {
	local pf=()
	if [ "$1" = '--no-password' ]; then pf=(--no-password); shift; fi
	if [ -n "$MYSQL_DATABASE" ]; then set -- --database="$MYSQL_DATABASE" "$@"; fi
	mysql --defaults-extra-file=<(passfile "${pf[@]}") --protocol=socket -uroot -hlocalhost \
		--socket="$SOCKET" --comments "$@"
}

if [ "${1:0:1}" = '-' ]; then
	set -- mysqld "$@"
fi

if [ "$1" = 'mysqld' ] && ! want_help "$@"; then
	mysql_note "Entrypoint script for MySQL Server $("$@" --version | awk '{print $3}') started."
	if ! errors="$("$@" "${_help_args[@]}" 2>&1 >/dev/null)"; then
		mysql_error "mysqld failed while attempting to check config: $errors"
	fi
	DATADIR="$(mysql_get_config datadir "$@")"
	SOCKET="$(mysql_get_config socket "$@")"
	file_env 'MYSQL_ROOT_HOST' '%'
	file_env 'MYSQL_DATABASE'
	file_env 'MYSQL_USER'
	file_env 'MYSQL_PASSWORD'
	file_env 'MYSQL_ROOT_PASSWORD'

	if [ "$(id -u)" = '0' ]; then
		dirs=("$DATADIR" "$(dirname "$SOCKET")" "$(dirname "$(mysql_get_config pid-file "$@")")")
		sfp="$(mysql_get_config secure-file-priv "$@")"
		if [ -n "$sfp" ] && [ "$sfp" != NULL ]; then dirs+=("$sfp"); fi
		mkdir -p "${dirs[@]}"
		find "${dirs[@]}" \! -user mysql -exec chown --no-dereference mysql '{}' +
		mysql_note "Switching to dedicated user 'mysql'"
		exec setpriv --reuid=mysql --regid=mysql --init-groups "$BASH_SOURCE" "$@"
	fi

	if [ ! -d "$DATADIR/mysql" ]; then
		if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
			mysql_error 'Database is uninitialized and password option is not specified (MYSQL_ROOT_PASSWORD[_FILE], MYSQL_ALLOW_EMPTY_PASSWORD or MYSQL_RANDOM_ROOT_PASSWORD)'
		fi
		mysql_note "Initializing database files"
		"$@" --initialize-insecure --default-time-zone=SYSTEM
		mysql_note "Database files initialized"
		mysql_note "Starting temporary server"
		"$@" --daemonize --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" \
			|| mysql_error "Unable to start server."
		mysql_note "Temporary server started."
		if [ -z "${MYSQL_INITDB_SKIP_TZINFO:-}" ]; then
			mysql_tzinfo_to_sql /usr/share/zoneinfo 2>/dev/null \
				| sed 's/Local time zone must be set--see zic manual page/FCTY/' \
				| process_sql --no-password --database=mysql
		fi
		if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
			MYSQL_ROOT_PASSWORD="$(head -c 18 /dev/urandom | base64)"; export MYSQL_ROOT_PASSWORD
			mysql_note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
		fi
		rootpw="${MYSQL_ROOT_PASSWORD//\\/\\\\}"; rootpw="${rootpw//\'/\\\'}"
		{
			echo "SET autocommit = 1;"
			echo "SET @@SESSION.SQL_LOG_BIN=0;"
			echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '${rootpw}';"
			echo "GRANT ALL ON *.* TO 'root'@'localhost' WITH GRANT OPTION;"
			echo "FLUSH PRIVILEGES;"
			if [ -n "$MYSQL_ROOT_HOST" ] && [ "$MYSQL_ROOT_HOST" != 'localhost' ]; then
				echo "CREATE USER 'root'@'${MYSQL_ROOT_HOST}' IDENTIFIED BY '${rootpw}';"
				echo "GRANT ALL ON *.* TO 'root'@'${MYSQL_ROOT_HOST}' WITH GRANT OPTION;"
			fi
			echo "DROP DATABASE IF EXISTS test;"
		} | process_sql --no-password --database=mysql
		if [ -n "$MYSQL_DATABASE" ]; then
			mysql_note "Creating database ${MYSQL_DATABASE}"
			process_sql --database=mysql <<<"CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
		fi
		if [ -n "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
			mysql_note "Creating user ${MYSQL_USER}"
			process_sql --database=mysql <<<"CREATE USER '$MYSQL_USER'@'%' IDENTIFIED BY '$MYSQL_PASSWORD';"
			if [ -n "$MYSQL_DATABASE" ]; then
				process_sql --database=mysql <<<"GRANT ALL ON \`${MYSQL_DATABASE//_/\\_}\`.* TO '$MYSQL_USER'@'%';"
			fi
		fi
		for f in /docker-entrypoint-initdb.d/*; do
			case "$f" in
				*.sh) mysql_note "$0: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
				*.sql) mysql_note "$0: running $f"; process_sql < "$f" ;;
				*.sql.gz) mysql_note "$0: running $f"; gunzip -c "$f" | process_sql ;;
				*) mysql_note "$0: ignoring $f" ;;
			esac
		done
		mysql_note "Stopping temporary server"
		mysqladmin --defaults-extra-file=<(passfile) shutdown -uroot --socket="$SOCKET" \
			|| mysql_error "Unable to shut down server."
		mysql_note "Temporary server stopped"
		mysql_note "MySQL init process done. Ready for start up."
	fi
fi

exec "$@"
"""


def _prepare(ctx: BuildContext) -> None:
    # The official MySQL image's mysql user/group: 999:999 (before the package picks one).
    ctx.chroot("groupadd", "--system", "--gid", str(MYSQL_UID), "mysql")
    ctx.chroot(
        "useradd",
        "--system",
        "--uid",
        str(MYSQL_UID),
        "--gid",
        str(MYSQL_UID),
        "--home-dir",
        "/var/lib/mysql",
        "--no-create-home",
        "mysql",
    )


RECIPE = Recipe(
    root="sid",
    images={
        "mysql": {
            "Entrypoint": ["docker-entrypoint.sh"],
            "Cmd": ["mysqld"],
            "ExposedPorts": {"3306/tcp": {}, "33060/tcp": {}},
            "package": "mysql-server-core",
        },
    },
    packages=(
        # mysqld, mysql_tzinfo_to_sql (not `mysql-server`: its maintainer scripts
        # initialize a data dir and want systemd).
        "mysql-server-core",
        # mysql, mysqladmin, mysqldump.
        "mysql-client",
    ),
    versioned=("mysql-server-core",),
    files={
        "etc/my.cnf": (MY_CNF, 0o644),
        "usr/local/bin/docker-entrypoint.sh": (MYSQL_ENTRYPOINT, 0o755),
    },
    remove=(
        # Debian's option files (the official image reads only /etc/my.cnf and conf.d/).
        "etc/mysql/my.cnf",
        "etc/mysql/my.cnf.fallback",
        "etc/alternatives/my.cnf",
        "etc/mysql/conf.d/*.cnf",
        # Emptied: the entrypoint initializes it on first start.
        "var/lib/mysql",
    ),
    dirs=(
        ("etc/mysql/conf.d", 0, 0o755),
        # The official image: 1777, writable whatever uid mysqld ends up with.
        ("var/lib/mysql", MYSQL_UID, 0o1777),
        ("run/mysqld", MYSQL_UID, 0o1777),
        # secure-file-priv: mysqld aborts when it does not exist.
        ("var/lib/mysql-files", MYSQL_UID, 0o750),
        ("docker-entrypoint-initdb.d", 0, 0o755),
    ),
    prepare=_prepare,
)
