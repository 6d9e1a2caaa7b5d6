{#- Configuration files of the exporters that need one (mysqld_exporter), and
    the rules of cAdvisor's read-only Docker socket proxy. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as exporters with context %}
{%- set lostops = salt['pillar.get']('lostops') %}
{%- set enabled = lostops.host.get('exporters', []) %}
{#- The mysql formula's parameters (salt/lib/map.jinja: defaults, OS files,
    pillar `mysql`): where MySQL is and what the exporter's account is called
    come from one place. #}
{%- from 'lib/map.jinja' import load_map with context %}
{%- set mysql = load_map('mysql') | load_json %}

exporters-config-dir-file-directory:
  file.directory:
    - name: {{ exporters.config_dir }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True

{%- if 'node_exporter' in enabled %}

{#- node_exporter's textfile collector reads *.prom files here (written by
    jobs on the host as root, e.g. lostops-mysql-backup). #}
exporters-node-exporter-textfile-dir-file-directory:
  file.directory:
    - name: {{ exporters.node_exporter.textfile_dir }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True
{%- endif %}

{%- if 'cadvisor' in enabled %}

exporters-socket-proxy-file-managed:
  file.managed:
    - name: {{ exporters.config_dir }}/docker-socket-proxy.cfg
    - source: salt://lib/docker-socket-proxy.cfg.jinja
    - template: jinja
    - context:
        client: cAdvisor's docker factory
        port: {{ exporters.cadvisor.socket_proxy.port }}
        allow: {{ exporters.cadvisor.socket_proxy.allow | json }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: exporters-config-dir-file-directory
{%- endif %}

{%- if 'mysqld_exporter' in enabled %}
{%-   set me = exporters.mysqld_exporter %}
{%-   set password = salt['pillar.get']('secrets:mysql_exporter_password', '') %}
{%-   if not password %}
{{ raise('secrets:mysql_exporter_password: missing on ' ~ lostops.minion ~ ' (role ' ~ lostops.host.role ~ ')') }}
{%-   elif '$' in password %}
{{ raise('secrets:mysql_exporter_password: must not contain "$" (mysqld_exporter expands ${VAR} in its my.cnf)') }}
{%-   elif '\n' in password or '\r' in password %}
{{ raise('secrets:mysql_exporter_password: must be one line (my.cnf holds it on one line)') }}
{%-   endif %}
{%-   if not salt['pillar.get']('secrets:mysql_ca_cert', '') %}
{{ raise('secrets:mysql_ca_cert: missing on ' ~ lostops.minion ~ ' (lostops mysql-ca creates it)') }}
{%-   endif %}

{#- Mounted read-only; the exporter runs as nobody:nogroup. #}
exporters-mysqld-exporter-dir-file-directory:
  file.directory:
    - name: {{ exporters.config_dir }}/mysqld-exporter
    - user: root
    - group: {{ me.gid }}
    - mode: '0750'
    - require:
      - file: exporters-config-dir-file-directory

exporters-mysqld-exporter-mycnf-file-managed:
  file.managed:
    - name: {{ exporters.config_dir }}/mysqld-exporter/my.cnf
    - source: salt://{{ tplroot }}/files/my.cnf.jinja
    - template: jinja
    - user: root
    - group: {{ me.gid }}
    - mode: '0640'
    - show_changes: False
    - context:
        user: {{ mysql.users.exporter.name | json }}
        host: {{ mysql.internal_network.alias | json }}
        port: {{ mysql.container_port }}
    - require:
      - file: exporters-mysqld-exporter-dir-file-directory

exporters-mysqld-exporter-ca-file-managed:
  file.managed:
    - name: {{ exporters.config_dir }}/mysqld-exporter/ca.pem
    - contents_pillar: secrets:mysql_ca_cert
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: exporters-mysqld-exporter-dir-file-directory
{%- endif %}
