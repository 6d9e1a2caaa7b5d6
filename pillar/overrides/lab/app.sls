# Lab only (LOSTOPS_INVENTORY=lab). The app is a lab stand-in with the REAL
# app's contract (lostops-stg5/lostops-app: Laravel 8.75 FROM php:7.4-apache),
# built by tests/lab/images/app.py on PHP 8.4 from Debian: it listens on 80, `/`
# answers 200 only when its query on table `counters` over TLS (PDO mysql,
# the env file and the MySQL CA the formula provides) succeeds, every other
# path but `/up` (200 without the database, like the app image's app/up.php)
# is 404, and `php artisan migrate --force` in its working dir
# /var/www/html creates `counters`. It is NOT Laravel (no framework, no
# sessions, no APP_KEY use) and serves with PHP's built-in server, not apache2.
app:
  # The lab's first converge deploys this version (production gets its
  # version from the release job; see pillar/app.sls).
  version: 0.1.0
  rollout:
    health_timeout: 60
    # More than Traefik's providersThrottleDuration (2 s), as in production:
    # with 1 s the old container could stop before Traefik had switched
    # (a request through Traefik timed out in test_06 on 2026-12-04).
    drain_seconds: 3
  healthcheck:
    interval: 2s
    timeout: 2s
    retries: 3
    start_period: 2s
  # Per-version overrides, used by the end-to-end roll-back test: a version
  # whose command does not listen fails its health check and must be rolled
  # back. Add entries here (or pass them as pillar on the command line):
  #   versions:
  #     9.9.9:
  #       command: [sleep, '3600']
  versions: {}

images:
  app:
    name: localhost/lostops-lab-app
    # The lab image has one tag; it replaces app:version as the image tag
    # (container names and migration markers still use app:version).
    tag: lab
    digest: ''
