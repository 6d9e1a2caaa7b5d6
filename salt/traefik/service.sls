{#- The compose project `traefik` (/opt/lostops/traefik/compose.yaml). A change
    of the static configuration (or of the dashboard's users file, which
    Traefik reads only when it builds the middleware) recreates the container;
    the file provider's directory is watched and needs no restart. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as traefik with context %}
{%- from 'lib/compose.jinja' import compose_project with context %}
{%- set lostops = salt['pillar.get']('lostops') %}

include:
  - .network
  - .config

{{ compose_project(
      'traefik',
      'salt://' ~ tplroot ~ '/files/compose.yaml.jinja',
      context={
        'config_dir': traefik.config_dir,
        'data_dir': traefik.data_dir,
        'network': traefik.network,
        'dashboard': traefik.dashboard.enabled,
        'docker_socket': traefik.docker_socket,
        'private_ip': lostops.host.private_ip,
        'http_port': lostops.services.http.port,
        'https_port': lostops.services.https.port,
        'metrics_port': lostops.services['traefik-metrics'].port,
      },
      recreate_on=[
        {'file': 'traefik-config-static-file-serialize'},
        {'file': 'traefik-config-dashboard-auth-file-' ~ ('managed' if traefik.dashboard.enabled else 'absent')},
        {'file': 'traefik-config-socket-proxy-file-managed'},
      ],
      override=traefik.compose_override,
      require=[
        {'cmd': 'traefik-network-proxy-cmd-run'},
        {'file': 'traefik-acme-storage-file-managed'},
        {'file': 'traefik-config-static-file-serialize'},
        {'file': 'traefik-config-socket-proxy-file-managed'},
        {'file': 'traefik-config-tls-file-serialize'},
        {'file': 'traefik-config-middlewares-file-serialize'},
        {'file': 'traefik-config-dashboard-file-' ~ ('serialize' if traefik.dashboard.enabled else 'absent')},
      ],
) }}
