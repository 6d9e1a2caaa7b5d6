"""The lab database: MariaDB (Debian) behind the official MySQL image's contract. MySQL protocol, NOT MySQL 8.0.

localhost/lostops-lab-mysql:lab   mariadb-server (Debian), the mysql image's entrypoint, user 999
"""

from __future__ import annotations

from tests.lab.images.recipe import BuildContext, Recipe

# Fixed ids: the official image's mysql user and group.
MYSQL_UID = 999

# A reduced docker-library/mysql entrypoint (8.0/docker-entrypoint.sh) for MariaDB:
# same variables (MYSQL_ROOT_PASSWORD[_FILE], MYSQL_ROOT_HOST, MYSQL_DATABASE,
# MYSQL_USER/MYSQL_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD), same
# /docker-entrypoint-initdb.d handling, first start only (empty data dir), a
# temporary server with --skip-networking, then `exec mysqld` as mysql (999).
MYSQL_ENTRYPOINT = r"""#!/bin/bash
# lostops lab: MariaDB behind the official MySQL image's entrypoint contract.
set -eo pipefail
shopt -s nullglob

mysql_log() { printf '%s [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*"; }
mysql_error() { mysql_log "ERROR: $*" >&2; exit 1; }

file_env() {
	local var="$1" fileVar="${1}_FILE" def="${2:-}"
	if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then
		mysql_error "both $var and $fileVar are set (but are exclusive)"
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

# first arg is `-f` or `--some-option`
if [ "${1:0:1}" = '-' ]; then
	set -- mysqld "$@"
fi

if [ "$1" = 'mysqld' ] || [ "$1" = 'mariadbd' ]; then
	DATADIR=/var/lib/mysql
	SOCKET=/run/mysqld/mysqld.sock
	mkdir -p /run/mysqld
	chown mysql:mysql /run/mysqld
	if [ "$(id -u)" = '0' ]; then
		find "$DATADIR" \! -user mysql -exec chown mysql: '{}' + 2>/dev/null || true
	fi
	if [ ! -d "$DATADIR/mysql" ]; then
		file_env 'MYSQL_ROOT_PASSWORD'
		file_env 'MYSQL_DATABASE'
		file_env 'MYSQL_USER'
		file_env 'MYSQL_PASSWORD'
		file_env 'MYSQL_ROOT_HOST' '%'
		if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]; then
			mysql_error 'Database is uninitialized and password option is not specified (MYSQL_ROOT_PASSWORD[_FILE] or MYSQL_ALLOW_EMPTY_PASSWORD)'
		fi
		mysql_log "Initializing database files"
		# --force: no name resolution of the container's hostname (like the official
		# MariaDB image's --cross-bootstrap); accounts are IP-only (skip_name_resolve).
		mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db --force \
			--auth-root-authentication-method=normal --skip-name-resolve >/dev/null
		mysql_log "Starting temporary server"
		mysqld --user=mysql --datadir="$DATADIR" --skip-networking --socket="$SOCKET" &
		pid=$!
		for i in $(seq 60); do
			if mariadb-admin --no-defaults --socket="$SOCKET" -uroot ping >/dev/null 2>&1; then break; fi
			sleep 0.5
		done
		sql() { mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot "$@"; }
		rootpw="${MYSQL_ROOT_PASSWORD//\\/\\\\}"; rootpw="${rootpw//\'/\\\'}"
		{
			echo "SET @@SESSION.SQL_LOG_BIN=0;"
			echo "DELETE FROM mysql.global_priv WHERE User NOT IN ('mysql.sys','mariadb.sys','root') OR (User='root' AND Host NOT IN ('localhost'));"
			echo "FLUSH PRIVILEGES;"
			echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '${rootpw}';"
			if [ -n "$MYSQL_ROOT_HOST" ] && [ "$MYSQL_ROOT_HOST" != 'localhost' ]; then
				echo "CREATE USER 'root'@'${MYSQL_ROOT_HOST}' IDENTIFIED BY '${rootpw}';"
				echo "GRANT ALL ON *.* TO 'root'@'${MYSQL_ROOT_HOST}' WITH GRANT OPTION;"
			fi
			echo "FLUSH PRIVILEGES;"
			if [ -n "${MYSQL_DATABASE:-}" ]; then
				echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`;"
			fi
			if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
				echo "CREATE USER '${MYSQL_USER}'@'%' IDENTIFIED BY '${MYSQL_PASSWORD}';"
				if [ -n "${MYSQL_DATABASE:-}" ]; then
					echo "GRANT ALL ON \`${MYSQL_DATABASE}\`.* TO '${MYSQL_USER}'@'%';"
				fi
			fi
		} | sql
		export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"
		for f in /docker-entrypoint-initdb.d/*; do
			case "$f" in
				*.sh) mysql_log "running $f"; . "$f" ;;
				*.sql) mysql_log "running $f"; sql -p"$MYSQL_ROOT_PASSWORD" ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} < "$f" ;;
				*.sql.gz) mysql_log "running $f"; gunzip -c "$f" | sql -p"$MYSQL_ROOT_PASSWORD" ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} ;;
				*) mysql_log "ignoring $f" ;;
			esac
		done
		unset MYSQL_PWD
		kill "$pid"; wait "$pid" || true
		mysql_log "MariaDB init process done. Ready for start up."
	fi
	if [ "$(id -u)" = '0' ]; then
		set -- "$@" --user=mysql
	fi
fi

exec "$@"
"""


# MySQL 8.0 client/SQL dialect -> MariaDB, for what the production templates send
# (salt/mysql: root.cnf, users.sql, the backup). Installed as /usr/local/bin/mysql,
# mysqladmin and mysqldump (ahead of Debian's compat links in PATH). Every rewrite
# is a named lab deviation (docs/lab.md):
#  - option files: `ssl-mode = VERIFY_CA|REQUIRED` (MariaDB clients abort on the
#    unknown option) -> `ssl` (TLS on; MariaDB has no "verify the CA but not the
#    name": the certificate is NOT verified on these root connections over
#    127.0.0.1, which is not in the server certificate's names);
#    `ssl-mode = VERIFY_IDENTITY` -> `ssl` + `ssl-verify-server-cert`;
#  - SQL on stdin: `IDENTIFIED WITH caching_sha2_password BY` -> `IDENTIFIED BY`
#    (MariaDB has no caching_sha2_password; its default mysql_native_password is
#    used), and account hosts in CIDR form 'a.b.c.d/NN' -> 'a.b.c.d/netmask'
#    (MariaDB matches only the netmask form; MySQL >= 8.0.23 both).
MYSQL_CLIENT_SHIM = r"""#!/bin/bash
# lostops lab: MySQL 8.0 client options and SQL -> MariaDB (see tests/lab/images/mysql.py).
set -o pipefail
case "$(basename "$0")" in
	mysql) real=mariadb ;;
	mysqladmin) real=mariadb-admin ;;
	mysqldump) real=mariadb-dump ;;
	*) echo "lab mysql shim: unknown name $0" >&2; exit 2 ;;
esac
tmp=()
cleanup() { rm -f "${tmp[@]}"; }
trap cleanup EXIT
args=()
for a in "$@"; do
	case "$a" in
		--defaults-extra-file=*|--defaults-file=*)
			t=$(mktemp /tmp/lab-mysql-cnf.XXXXXX); tmp+=("$t")
			sed -E \
				-e 's/^[[:space:]]*ssl[-_]mode[[:space:]]*=[[:space:]]*"?(VERIFY_CA|REQUIRED)"?[[:space:]]*$/ssl\nssl-verify-server-cert = OFF/I' \
				-e 's/^[[:space:]]*ssl[-_]mode[[:space:]]*=[[:space:]]*"?VERIFY_IDENTITY"?[[:space:]]*$/ssl\nssl-verify-server-cert = ON/I' \
				"${a#*=}" > "$t" || exit 2
			a="${a%%=*}=$t" ;;
	esac
	args+=("$a")
done
if [ "$real" = mariadb ] && [ ! -t 0 ]; then
	perl -pe 's/IDENTIFIED\s+WITH\s+caching_sha2_password\s+BY/IDENTIFIED BY/gi;
		s{'"'"'(\d+\.\d+\.\d+\.\d+)/(\d{1,2})'"'"'}{"'"'"'$1/" . join(".", unpack("C4", pack("N", (0xffffffff << (32 - $2)) & 0xffffffff))) . "'"'"'"}ge' \
		| "$real" "${args[@]}"
else
	"$real" "${args[@]}"
fi
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
        "/nonexistent",
        "--no-create-home",
        "--shell",
        "/bin/false",
        "mysql",
    )


RECIPE = Recipe(
    images={
        "mysql": {
            "Entrypoint": ["docker-entrypoint.sh"],
            "Cmd": ["mysqld"],
            "ExposedPorts": {"3306/tcp": {}},
            "package": "mariadb-server",
        },
    },
    packages=(
        "mariadb-server",
        "mariadb-client",
        # `mysql`, `mysqladmin`, `mysqldump`, `mysqld` names (the official MySQL image's).
        "mariadb-client-compat",
        "mariadb-server-compat",
    ),
    versioned=("mariadb-server",),
    files={
        "usr/local/bin/mysql": (MYSQL_CLIENT_SHIM, 0o755),
        "usr/local/bin/docker-entrypoint.sh": (MYSQL_ENTRYPOINT, 0o755),
    },
    symlinks={
        "usr/local/bin/mysqladmin": "mysql",
        "usr/local/bin/mysqldump": "mysql",
    },
    remove=(
        # Not needed by the image (MariaDB's offline table tools): smaller layer.
        "usr/bin/aria_*",
        "usr/bin/myisam*",
        "usr/bin/mariadb-binlog",
        "usr/bin/mariadb-slap",
        "usr/bin/mariadb-import",
        "usr/bin/mariadb-show",
        "usr/bin/mariadb-conv",
        "usr/bin/mariadb-plugin",
        "usr/bin/mariadb-tzinfo-to-sql",
        "usr/bin/mariadb-waitpid",
        "usr/bin/innochecksum",
        "usr/bin/resolve_stack_dump",
        "usr/bin/replace",
        "usr/bin/perror",
        # The official MySQL image has no Debian/MariaDB server config: drop what
        # Debian's package adds (50-server.cnf binds 127.0.0.1 and sets its own
        # options), keep /etc/mysql/conf.d/ (read by my.cnf -> mariadb.cnf) for the
        # formula's file.
        "etc/mysql/mariadb.conf.d/*.cnf",
        # Emptied: the entrypoint initializes it on first start.
        "var/lib/mysql",
    ),
    dirs=(
        ("etc/mysql/conf.d", 0, 0o755),
        ("var/lib/mysql", MYSQL_UID, 0o750),
        ("run/mysqld", MYSQL_UID, 0o755),
        ("docker-entrypoint-initdb.d", 0, 0o755),
    ),
    prepare=_prepare,
)
