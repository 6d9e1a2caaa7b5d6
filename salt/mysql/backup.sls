{#- Nightly logical backups: lostops-mysql-backup.timer starts
    lostops-mysql-backup.service, which runs mysqldump inside the container
    (root's defaults file, not argv) into <backup:dir> as gzip, and deletes
    dumps older than backup:retention_days. The service is never run at
    apply time (the lab's stand-in has no mysqldump); only the timer is
    enabled and started. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as mysql with context %}
{%- from 'lib/compose.jinja' import compose_cmd with context %}
{%- set b = mysql.backup %}
{%- set script = '/usr/local/sbin/lostops-mysql-backup' %}
{%- set unit_dir = '/etc/systemd/system' %}

include:
  - .config

{%- if b.enabled %}

mysql-backup-dir-file-directory:
  file.directory:
    - name: {{ b.dir }}
    - user: root
    - group: root
    - mode: '0700'
    - makedirs: True
    - require:
      - file: mysql-data-root-dir-file-directory

mysql-backup-script-file-managed:
  file.managed:
    - name: {{ script }}
    - source: salt://{{ tplroot }}/files/backup.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0750'
    - context:
        dir: {{ b.dir }}
        retention_days: {{ b.retention_days }}
        extra_args: {{ b.extra_args | json }}
        root_cnf: {{ mysql.secrets_container_dir }}/root.cnf
        compose: {{ compose_cmd('mysql', mysql.compose_override) }}

mysql-backup-service-unit-file-managed:
  file.managed:
    - name: {{ unit_dir }}/lostops-mysql-backup.service
    - source: salt://{{ tplroot }}/files/backup.service.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - context:
        script: {{ script }}

mysql-backup-timer-unit-file-managed:
  file.managed:
    - name: {{ unit_dir }}/lostops-mysql-backup.timer
    - source: salt://{{ tplroot }}/files/backup.timer.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - context:
        on_calendar: {{ b.on_calendar | json }}
        randomized_delay_sec: {{ b.randomized_delay_sec }}

mysql-backup-systemd-daemon-reload-cmd-run:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: mysql-backup-service-unit-file-managed
      - file: mysql-backup-timer-unit-file-managed

mysql-backup-timer-service-running:
  service.running:
    - name: lostops-mysql-backup.timer
    - enable: True
    - require:
      - cmd: mysql-backup-systemd-daemon-reload-cmd-run
      - file: mysql-backup-dir-file-directory
      - file: mysql-backup-script-file-managed
    - watch:
      - file: mysql-backup-timer-unit-file-managed
{%- else %}

mysql-backup-timer-service-dead:
  service.dead:
    - name: lostops-mysql-backup.timer
    - enable: False
{%- endif %}
