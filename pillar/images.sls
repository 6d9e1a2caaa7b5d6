# Every container image, pinned in one place: name, exact tag, optional digest.
# Rendered as name:tag[@digest] by salt/lib/images.jinja. No `latest` anywhere
# (tests/unit/test_salt_render.py enforces it).
#
# The lab replaces an image here and, where the program is a stand-in, its
# command through the formula's `compose_override` (a compose override file;
# pillar/overrides/lab/), never through the production templates. The app's
# per-version command/healthcheck (images:app) go to the roll-out, not to compose.
images:
  # Traefik < 3.6.1 talks Docker API 1.24 to the Docker provider; Docker
  # Engine 29 refuses anything below API 1.44 ("client version 1.24 is too
  # old"), so the provider finds no container and every route is gone.
  # Docker 29 on a host needs Traefik >= 3.6.1 (API auto-negotiation,
  # traefik/traefik#12256, #12262; issue #12253). Docker <= 28 works with
  # this pin.
  traefik: {name: docker.io/library/traefik, tag: v3.5.3, digest: ''}
  mysql: {name: docker.io/library/mysql, tag: 8.0.43, digest: ''}
  node_exporter: {name: quay.io/prometheus/node-exporter, tag: v1.9.1, digest: ''}
  cadvisor: {name: gcr.io/cadvisor/cadvisor, tag: v0.52.1, digest: ''}
  mysqld_exporter: {name: quay.io/prometheus/mysqld-exporter, tag: v0.17.2, digest: ''}
  prometheus: {name: quay.io/prometheus/prometheus, tag: v3.5.0, digest: ''}
  alertmanager: {name: quay.io/prometheus/alertmanager, tag: v0.28.1, digest: ''}
  grafana: {name: docker.io/grafana/grafana, tag: 12.1.1, digest: ''}
  # The app's tag is app:version (pillar/app.sls), set per release.
  app: {name: ghcr.io/lostops-stg5/lostops-app, tag: '', digest: ''}
