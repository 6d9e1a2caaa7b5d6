{#- Directories, mysqld options and root's secret files. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as mysql with context %}
{%- set lostops = salt['pillar.get']('lostops') %}
{#- The formula owns these: pillar mysql:config must not weaken them. #}
{%- set fixed = ['bind_address', 'port', 'mysqlx', 'require_secure_transport', 'tls_version',
                 'ssl_ca', 'ssl_cert', 'ssl_key', 'default_authentication_plugin',
                 'authentication_policy', 'mysql_native_password', 'admin_tls_version'] %}
{%- for key in mysql.config %}
{%-   if key | replace('-', '_') in fixed %}
{{ raise('mysql:config:' ~ key ~ ': set by the formula (TLS/transport/auth), not a pillar knob') }}
{%-   endif %}
{%- endfor %}
{%- if not salt['pillar.get']('secrets:mysql_root_password', '') %}
{{ raise('secrets:mysql_root_password: missing on ' ~ lostops.minion ~ ' (role ' ~ lostops.host.role ~ ')') }}
{%- endif %}

mysql-packages-pkg-installed:
  pkg.installed:
    - pkgs: {{ mysql.pkgs | json }}

mysql-config-dir-file-directory:
  file.directory:
    - name: {{ mysql.config_dir }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True

mysql-config-confd-dir-file-directory:
  file.directory:
    - name: {{ mysql.config_dir }}/conf.d
    - user: root
    - group: root
    - mode: '0755'
    - require:
      - file: mysql-config-dir-file-directory

mysql-config-secrets-dir-file-directory:
  file.directory:
    - name: {{ mysql.config_dir }}/secrets
    - user: root
    - group: {{ mysql.gid }}
    - mode: '0750'
    - require:
      - file: mysql-config-dir-file-directory

mysql-data-root-dir-file-directory:
  file.directory:
    - name: {{ mysql.data_root }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True

{#- Never recursive: the contents belong to mysqld. #}
mysql-data-dir-file-directory:
  file.directory:
    - name: {{ mysql.data_root }}/data
    - user: {{ mysql.uid }}
    - group: {{ mysql.gid }}
    - mode: '0750'
    - require:
      - file: mysql-data-root-dir-file-directory

mysql-config-file-managed:
  file.managed:
    - name: {{ mysql.config_dir }}/conf.d/lostops.cnf
    - source: salt://{{ tplroot }}/files/lostops.cnf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - context:
        port: {{ mysql.container_port }}
        host_port: {{ lostops.services.mysql.port }}
        mysqlx: {{ mysql.mysqlx | json }}
        tls_dir: {{ mysql.tls.container_dir }}
        settings: {{ mysql.config | json }}
    - require:
      - file: mysql-config-confd-dir-file-directory

{#- Read by the image's entrypoint (MYSQL_ROOT_PASSWORD_FILE) after it has
    dropped to uid 999, hence root:999 0640. #}
mysql-config-root-password-file-managed:
  file.managed:
    - name: {{ mysql.config_dir }}/secrets/root-password
    - contents_pillar: secrets:mysql_root_password
    - user: root
    - group: {{ mysql.gid }}
    - mode: '0640'
    - show_changes: False
    - require:
      - file: mysql-config-secrets-dir-file-directory

{#- Client defaults for root (healthcheck, users.sql, backups): only root. #}
mysql-config-root-cnf-file-managed:
  file.managed:
    - name: {{ mysql.config_dir }}/secrets/root.cnf
    - source: salt://{{ tplroot }}/files/root.cnf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: False
    - context:
        port: {{ mysql.container_port }}
        tls_dir: {{ mysql.tls.container_dir }}
    - require:
      - file: mysql-config-secrets-dir-file-directory
