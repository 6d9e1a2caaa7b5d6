<?php
// GET /up in the app image (app/apache/lostops.conf): 200 "ok" when the
// framework boots (autoloader, configuration, service providers), 500
// otherwise. No database query: a database outage must not make Traefik drop
// every container. Laravel 8 has no health route of its own (it came in 11).
declare(strict_types=1);

header('Content-Type: text/plain; charset=utf-8');
header('Cache-Control: no-store');
try {
    require '/var/www/html/vendor/autoload.php';
    $app = require '/var/www/html/bootstrap/app.php';
    $app->make(Illuminate\Contracts\Http\Kernel::class)->bootstrap();
    http_response_code(200);
    echo "ok\n";
} catch (Throwable $e) {
    http_response_code(500);
    error_log('lostops /up: ' . get_class($e) . ': ' . $e->getMessage());
    echo "error\n";
}
