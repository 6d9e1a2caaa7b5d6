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
  # The read-only Docker socket proxy in front of Traefik and of cAdvisor (one
  # per client, salt/traefik and salt/exporters; HAProxy 3.2.4 inside): release
  # v0.4.1 of github.com/Tecnativa/docker-socket-proxy. Its haproxy.cfg.template
  # is replaced by salt/lib/docker-socket-proxy.cfg.jinja.
  # The tag keeps its `v`: since v0.4.0 the image is tagged by
  # docker/metadata-action's defaults (the release's git tag), because the CI's
  # "Modernize CI" commit (16b9e72, 2025-08-07) moved crazy-max/ghaction-docker-meta
  # from @v1 to @v4, which no longer reads its `tag-semver` (semver pattern `version`) input;
  # 0.3.0 was the last tag without it (Renovate's PR in ChristianLempa/boilerplates
  # #1183 went from 0.3.0 to v0.4.0). No digest: public pins of v0.4.1 disagree
  # (sha256:1c211b21... and sha256:3400c429...), so none is tied to the tag;
  # Renovate's first run (pinDigests) writes it. v0.4.2 (2025-12-16) is
  # publicly pinned as sha256:1f3a6f303320723d199d2316a3e82b2e2685d86c275d5e3deeaf182573b47476
  # by many projects, but its source is not reviewed here.
  docker_socket_proxy: {name: ghcr.io/tecnativa/docker-socket-proxy, tag: v0.4.1, digest: ''}
  mysql: {name: docker.io/library/mysql, tag: 8.0.43, digest: 'sha256:4a8843ef1c30d30937dea3cba5b72665bae17051af7a72b1651f3b7681f76aee'}
  node_exporter: {name: quay.io/prometheus/node-exporter, tag: v1.9.1, digest: ''}
  cadvisor: {name: gcr.io/cadvisor/cadvisor, tag: v0.52.1, digest: ''}
  mysqld_exporter: {name: quay.io/prometheus/mysqld-exporter, tag: v0.17.2, digest: ''}
  prometheus: {name: quay.io/prometheus/prometheus, tag: v3.5.0, digest: ''}
  alertmanager: {name: quay.io/prometheus/alertmanager, tag: v0.28.1, digest: ''}
  grafana: {name: docker.io/grafana/grafana, tag: 12.1.1, digest: ''}
  # The app's tag is app:version (pillar/app.sls), set per release.
  app: {name: ghcr.io/lostops-stg5/lostops-app, tag: '', digest: ''}
