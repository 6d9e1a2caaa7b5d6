{#- The compose project `exporters` (/opt/lostops/exporters/compose.yaml):
    the exporters of this host's role. A change of mysqld_exporter's my.cnf
    or CA, or of the Docker socket proxy's rules (cAdvisor's), recreates the
    project (they are read at start). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as exporters with context %}
{%- from 'lib/compose.jinja' import compose_project with context %}
{%- set lostops = salt['pillar.get']('lostops') %}
{#- This host's exporters: its role's, from lostops/roles.py via the pillar. #}
{%- set enabled = lostops.host.get('exporters', []) %}
{%- from 'lib/map.jinja' import load_map with context %}
{%- set mysql = load_map('mysql') | load_json %}
{%- set ports = {} %}
{%- for name in enabled %}
{%-   if name not in ['node_exporter', 'cadvisor', 'mysqld_exporter'] %}
{{ raise('lostops:host:exporters: unknown exporter ' ~ name ~ ' (role ' ~ lostops.host.role ~ ', lostops/roles.py)') }}
{%-   endif %}
{%-   set service = exporters[name].service %}
{%-   if service not in lostops.services %}
{{ raise('exporters:' ~ name ~ ':service: ' ~ service ~ ' is not in the inventory services') }}
{%-   endif %}
{%-   do ports.update({name: lostops.services[service].port}) %}
{%- endfor %}

include:
  - .config
{%- if 'mysqld_exporter' in enabled %}
  - mysql.network
{%- endif %}

{%- if enabled %}
{%-   set recreate_on = [] %}
{%-   set require = [] %}
{%-   if 'node_exporter' in enabled %}
{%-     do require.append({'file': 'exporters-node-exporter-textfile-dir-file-directory'}) %}
{%-   endif %}
{%-   if 'cadvisor' in enabled %}
{%-     do recreate_on.append({'file': 'exporters-socket-proxy-file-managed'}) %}
{%-     do require.append({'file': 'exporters-socket-proxy-file-managed'}) %}
{%-   endif %}
{%-   if 'mysqld_exporter' in enabled %}
{%-     do recreate_on.extend([{'file': 'exporters-mysqld-exporter-mycnf-file-managed'}, {'file': 'exporters-mysqld-exporter-ca-file-managed'}]) %}
{%-     do require.append({'cmd': 'mysql-network-internal-cmd-run'}) %}
{%-     do require.extend(recreate_on[-2:]) %}
{%-   endif %}
{{ compose_project(
      'exporters',
      'salt://' ~ tplroot ~ '/files/compose.yaml.jinja',
      context={
        'exporters': exporters,
        'enabled': enabled,
        'ports': ports,
        'private_ip': lostops.host.private_ip,
        'config_dir': exporters.config_dir,
        'docker_socket': exporters.docker_socket,
        'mysql_network': mysql.internal_network.name,
        'compose': exporters.compose,
      },
      recreate_on=recreate_on,
      require=require,
      override=exporters.compose_override,
) }}
{%- endif %}
