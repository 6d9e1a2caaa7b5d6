{#- docker: the engine and compose v2, installed from Docker's apt repository
    (install_mode docker-ce, default) or from the distribution (distro);
    /etc/docker/daemon.json (log rotation, live-restore); the service
    (state docker-service-running, required by salt/lib/compose.jinja); image
    archives preloaded on air-gapped hosts (state docker-images-preloaded-test-nop). #}
include:
  - .package
  - .config
  - .service
  - .preload
