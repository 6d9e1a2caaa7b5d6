"""The lab app stand-in: PHP with the app image's contract (port 80, `/`, `/up`, `artisan migrate`), NOT Laravel.

localhost/lostops-lab-app:lab   php8.4-cli + php8.4-mysql (Debian), the php image's entrypoint
"""

from __future__ import annotations

from tests.lab.images.recipe import Recipe

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

# Shared by the page and `artisan`: PDO the way the real app's Laravel 8.75 connects
# (config/database.php + Illuminate\Database\Connectors\MySqlConnector), with the env the
# app formula writes (salt/app/_settings.jinja): DSN host/port/dbname, Laravel's default
# PDO options, the connection's only option MYSQL_ATTR_SSL_CA (array_filter: unset when
# empty; no VERIFY_SERVER_CERT: mysqlnd verifies the certificate and its name because a
# CA is set), then `set names ... collate ...` and strict mode. No connect timeout (Laravel
# sets none).
APP_DB = r"""<?php
// lostops lab app stand-in: the real app's database contract, NOT Laravel.
function lab_db(): PDO {
    $dsn = sprintf('mysql:host=%s;port=%s;dbname=%s',
        getenv('DB_HOST') ?: '127.0.0.1', getenv('DB_PORT') ?: '3306', getenv('DB_DATABASE') ?: 'forge');
    // Illuminate\Database\Connectors\Connector::$options
    $opts = [
        PDO::ATTR_CASE => PDO::CASE_NATURAL,
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_ORACLE_NULLS => PDO::NULL_NATURAL,
        PDO::ATTR_STRINGIFY_FETCHES => false,
        PDO::ATTR_EMULATE_PREPARES => false,
    ];
    // config/database.php: array_filter([PDO::MYSQL_ATTR_SSL_CA => env('MYSQL_ATTR_SSL_CA')])
    // (Pdo\Mysql::ATTR_SSL_CA is the same attribute under PHP 8.4's name).
    $opts += array_filter([Pdo\Mysql::ATTR_SSL_CA => getenv('MYSQL_ATTR_SSL_CA') ?: null]);
    $db = new PDO($dsn, getenv('DB_USERNAME') ?: 'forge', getenv('DB_PASSWORD') ?: '', $opts);
    $db->prepare("set names 'utf8mb4' collate 'utf8mb4_unicode_ci'")->execute();
    $db->prepare("set session sql_mode='ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,"
        . "NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'")->execute();
    return $db;
}
"""

# `/`: 200 only when the query over TLS succeeds (the real app: Counter::sum('count')).
# `/up`: 200 without the database, like the app image's /up (app/up.php, Apache alias).
APP_INDEX = r"""<?php
require __DIR__ . '/../db.php';
header('Content-Type: text/plain');
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
// The app image's liveness route (app/up.php): no database.
if ($path === '/up') {
    header('Cache-Control: no-store');
    echo "ok\n";
    return;
}
// Like the real app (Laravel 8, routes/web.php): otherwise only `/`.
if ($path !== '/') {
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

RECIPE = Recipe(
    images={
        "app": {
            # tini: forwards SIGTERM (php -S as PID 1 ignores it; the real image stops
            # apache with STOPSIGNAL SIGWINCH).
            "Entrypoint": ["/usr/bin/tini", "--", "docker-php-entrypoint"],
            "Cmd": ["lab-app-serve"],
            "WorkingDir": "/var/www/html",
            "ExposedPorts": {"80/tcp": {}},
            "package": "php8.4-cli",
        },
    },
    packages=(
        "php8.4-cli",
        "php8.4-mysql",
        # PID 1 of the app image: php -S as PID 1 would ignore SIGTERM (docker stop, shutdown).
        "tini",
    ),
    versioned=("php8.4-cli",),
    files={
        "usr/local/bin/docker-php-entrypoint": (PHP_ENTRYPOINT, 0o755),
        "usr/local/bin/lab-app-serve": (APP_SERVE, 0o755),
        "var/www/html/db.php": (APP_DB, 0o644),
        "var/www/html/public/index.php": (APP_INDEX, 0o644),
        "var/www/html/artisan": (APP_ARTISAN, 0o644),
    },
)
