{#- The external docker network `proxy`: Traefik and every routed container
    (app, Grafana, Prometheus) join it. Other formulas require
    `cmd: traefik-network-proxy-cmd-run`. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as traefik with context %}

include:
  - docker

traefik-network-proxy-cmd-run:
  cmd.run:
    - name: docker network create {{ traefik.network }}
    - unless: docker network inspect {{ traefik.network }} >/dev/null 2>&1
    - require:
      - service: docker-service-running
