# Every container image, pinned in one place: name, exact tag, optional digest.
# Rendered as name:tag[@digest] by salt/lib/images.jinja. No `latest` anywhere
# (tests/unit/test_salt_render.py enforces it).
#
# The lab replaces an image here and, where the program is a stand-in, its
# command through the formula's `compose_override` (a compose override file;
# pillar/overrides/lab/), never through the production templates. The app's
# per-version command/healthcheck (images:app) go to the roll-out, not to compose.
#
# Digests: Renovate (.github/renovate.json) keeps tag and digest current and
# writes the missing digests on its first run (pinDigests). The two filled here
# are the multi-platform index digests that docker-library/repo-info records
# for these official-image tags (repos/<image>/remote/<tag>.md): traefik v3.5.3
# built 2025-10-08 (Alpine 3.22.2), mysql 8.0.43 built 2025-09-23. Every other
# digest is left empty rather than guessed (tests/unit/test_renovate.py lists them).
images:
  # Traefik < 3.6.1 talks Docker API 1.24 to the Docker provider; Docker
  # Engine 29 refuses anything below API 1.44 ("client version 1.24 is too
  # old"), so the provider finds no container and every route is gone.
  # Docker 29 on a host needs Traefik >= 3.6.1 (API auto-negotiation,
  # traefik/traefik#12256, #12262; issue #12253). Docker <= 28 works with
  # this pin.
  traefik: {name: docker.io/library/traefik, tag: v3.5.3, digest: 'sha256:eb020bd0225969c44d2a1d3f808ee7cb37b157201d7c826f367be85d249bd7f0'}
  # The read-only Docker socket proxy in front of Traefik (HAProxy 3.2.4 inside;
  # release v0.4.1 of github.com/Tecnativa/docker-socket-proxy, published as
  # 0.4.1). Its haproxy.cfg.template is replaced by salt/lib/docker-socket-proxy.cfg.jinja.
  docker_socket_proxy: {name: ghcr.io/tecnativa/docker-socket-proxy, tag: 0.4.1, digest: ''}
  mysql: {name: docker.io/library/mysql, tag: 8.0.43, digest: 'sha256:4a8843ef1c30d30937dea3cba5b72665bae17051af7a72b1651f3b7681f76aee'}
  node_exporter: {name: quay.io/prometheus/node-exporter, tag: v1.9.1, digest: ''}
  cadvisor: {name: gcr.io/cadvisor/cadvisor, tag: v0.52.1, digest: ''}
  mysqld_exporter: {name: quay.io/prometheus/mysqld-exporter, tag: v0.17.2, digest: ''}
  prometheus: {name: quay.io/prometheus/prometheus, tag: v3.5.0, digest: ''}
  alertmanager: {name: quay.io/prometheus/alertmanager, tag: v0.28.1, digest: ''}
  grafana: {name: docker.io/grafana/grafana, tag: 12.1.1, digest: ''}
  # The app's tag is app:version (pillar/app.sls), set per release.
  app: {name: ghcr.io/lostops-stg5/lostops-app, tag: '', digest: ''}
