{#- The compose project `mysql` (/opt/lostops/mysql/compose.yaml). A change
    of the mysqld options or of the TLS material recreates the container; the
    data directory is a host path and survives it. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as mysql with context %}
{%- from 'lib/compose.jinja' import compose_project with context %}
{%- set lostops = salt['pillar.get']('lostops') %}

include:
  - .config
  - .tls
  - .network

{{ compose_project(
      'mysql',
      'salt://' ~ tplroot ~ '/files/compose.yaml.jinja',
      context={
        'private_ip': lostops.host.private_ip,
        'host_port': lostops.services.mysql.port,
        'port': mysql.container_port,
        'data_dir': mysql.data_root ~ '/data',
        'config_dir': mysql.config_dir,
        'tls_dir': mysql.tls.container_dir,
        'secrets_dir': mysql.secrets_container_dir,
        'internal_network': mysql.internal_network,
        'compose': mysql.compose,
      },
      recreate_on=[
        {'file': 'mysql-config-file-managed'},
        {'file': 'mysql-tls-ca-cert-file-managed'},
        {'cmd': 'mysql-tls-server-cert-issue-cmd-run'},
      ],
      override=mysql.compose_override,
      require=[
        {'cmd': 'mysql-network-internal-cmd-run'},
        {'file': 'mysql-data-dir-file-directory'},
        {'file': 'mysql-config-file-managed'},
        {'file': 'mysql-config-root-password-file-managed'},
        {'file': 'mysql-config-root-cnf-file-managed'},
        {'file': 'mysql-tls-server-key-file-managed'},
        {'file': 'mysql-tls-server-cert-file-managed'},
      ],
) }}
