{#- The app's database and user, and mysqld_exporter's user (users.sql),
    applied as root through `docker compose exec` (Salt 3008 has no mysql_*
    states). Runs whenever users.sql differs from the copy applied last, so
    a failed run is retried by the next apply (onchanges would forget it).
    mysql:manage_users False (a database image that is not MySQL) skips it. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as mysql with context %}
{%- from 'lib/compose.jinja' import compose_cmd with context %}
{#- The app's database and account: the app formula's parameters. #}
{%- from 'lib/map.jinja' import load_map with context %}
{%- set app = load_map('app') | load_json %}
{%- set lostops = salt['pillar.get']('lostops') %}

{%- if mysql.manage_users %}
{%- set app_hosts = mysql.users.app.hosts[:] %}
{%- if not app_hosts %}
{%-   for name in lostops.roles.backend %}{% do app_hosts.append(lostops.hosts[name].private_ip) %}{% endfor %}
{%- endif %}
{%- if not app_hosts %}
{{ raise('mysql:users:app:hosts: empty and the inventory has no backend host') }}
{%- endif %}
{%- for key in ['mysql_app_password', 'mysql_exporter_password'] %}
{%-   if not salt['pillar.get']('secrets:' ~ key, '') %}
{{ raise('secrets:' ~ key ~ ': missing on ' ~ lostops.minion) }}
{%-   endif %}
{%- endfor %}
{%- set compose = compose_cmd('mysql', mysql.compose_override) %}
{%- set sql = mysql.config_dir ~ '/users.sql' %}
{%- set applied = mysql.data_root ~ '/users.sql.applied' %}

include:
  - .service

mysql-users-sql-file-managed:
  file.managed:
    - name: {{ sql }}
    - source: salt://{{ tplroot }}/files/users.sql.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: False
    - context:
        app:
          database: {{ app.database.name | json }}
          user: {{ app.database.user | json }}
          hosts: {{ app_hosts | json }}
          privileges: {{ mysql.users.app.privileges | json }}
          max_user_connections: {{ mysql.users.app.max_user_connections }}
        exporter:
          name: {{ mysql.users.exporter.name | json }}
          host: {{ mysql.internal_network.subnet | json }}
          network: {{ mysql.internal_network.name | json }}
          privileges: {{ mysql.users.exporter.privileges | json }}
          select_schemas: {{ mysql.users.exporter.select_schemas | json }}
          max_user_connections: {{ mysql.users.exporter.max_user_connections }}
        absent: {{ mysql.users.absent | json }}
    - require:
      - file: mysql-config-dir-file-directory

{#- `up --wait` first: a no-op that returns once mysqld is healthy (TCP, so
    not the entrypoint's temporary init server). #}
mysql-users-sql-apply-cmd-run:
  cmd.run:
    - name: >-
        {{ compose }} up -d --wait --wait-timeout 300 mysql
        && {{ compose }} exec -T mysql mysql --defaults-extra-file={{ mysql.secrets_container_dir }}/root.cnf < {{ sql }}
        && install -m 0600 {{ sql }} {{ applied }}
    - unless: cmp -s {{ sql }} {{ applied }}
    - require:
      - file: mysql-users-sql-file-managed
      - cmd: mysql-compose-up-cmd-run
      - cmd: mysql-compose-changed-cmd-run
      - cmd: mysql-compose-recreate-cmd-run
{%- else %}

{#- Not MySQL here (mysql:manage_users False): users are not managed. #}
mysql-users-sql-skipped-test-nop:
  test.nop:
    - name: mysql:manage_users is False, users.sql not applied
{%- endif %}
