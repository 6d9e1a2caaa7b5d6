{#- Lab only (LOSTOPS_INVENTORY=lab). The lab cannot pull images: the app runs
    as the stand-in listener (tests/lab/standin.py), which is NOT the Laravel
    app. It proves the roll-out mechanics (new container next to the old,
    health gate, old removed, roll-back on an unhealthy version), the env
    file, the CA mount and the Traefik labels, nothing about PHP.
    The container port is the one in pillar/app.sls (read, not typed here). #}
{%- import_yaml 'app.sls' as base %}
{%- set port = base.app.port %}
app:
  # The lab's first converge deploys this version (production gets its
  # version from the release job; see pillar/app.sls).
  version: 0.1.0
  # The stand-in has no php: `php artisan migrate` cannot run in the lab
  # (migrations are NOT exercised there).
  migrate: false
  rollout:
    health_timeout: 60
    drain_seconds: 1
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
    name: localhost/lostops-standin
    # The stand-in has one tag; it replaces app:version as the image tag
    # (container names and migration markers still use app:version).
    tag: lab
    digest: ''
    command: [httpd, -f, -p, '{{ port }}', -h, /www]
    healthcheck: [CMD, wget, -q, -O-, 'http://127.0.0.1:{{ port }}/']
