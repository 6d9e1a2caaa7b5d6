{#- Nightly logical backups: lostops-mysql-backup.timer starts
    lostops-mysql-backup.service, which runs the dump inside the container
    (root's defaults file, not argv) into <backup:dir> as gzip (a short local
    copy, deleted after backup:retention_days) and, when the inventory has
    azure.backup (pillar lostops:backup), encrypts it with age to the
    operators' public key and uploads it with the host's create-only SAS
    (docs/mysql.md, "Off-host backups"). Its result goes to node-exporter's
    textfile collector. The service is never run at apply time; only the
    timer is enabled and started. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as mysql with context %}
{%- from 'lib/map.jinja' import load_map with context %}
{%- from 'lib/compose.jinja' import compose_cmd with context %}
{%- set exporters = load_map('exporters') | load_json %}
{%- set b = mysql.backup %}
{%- set off = b.offsite %}
{%- set target = salt['pillar.get']('lostops:backup') %}
{%- set sas = salt['pillar.get']('secrets:backup_sas_token', '') %}
{%- set recipient = salt['pillar.get']('secrets:backup_age_recipient', '') %}
{%- set offsite = b.enabled and target and True %}
{%- if offsite and not (sas and recipient) %}
{%-   set minion = salt['pillar.get']('lostops:minion') %}
{{ raise('secrets:backup_sas_token / backup_age_recipient: missing on ' ~ minion ~ ' (inventory azure.backup; docs/mysql.md)') }}
{%- endif %}
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

{%- if offsite %}

mysql-backup-offsite-pkg-installed:
  pkg.installed:
    - pkgs: {{ off.pkgs | json }}
    - install_recommends: False

mysql-backup-offsite-dir-file-directory:
  file.directory:
    - name: {{ off.config_dir }}
    - user: root
    - group: root
    - mode: '0700'
    - makedirs: True

{#- The create-only SAS: it can add backups, nothing else (docs/mysql.md). #}
mysql-backup-offsite-sas-file-managed:
  file.managed:
    - name: {{ off.config_dir }}/sas
    - contents_pillar: secrets:backup_sas_token
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: False
    - require:
      - file: mysql-backup-offsite-dir-file-directory

{#- The operators' age PUBLIC key; the private key never reaches a host. #}
mysql-backup-offsite-recipients-file-managed:
  file.managed:
    - name: {{ off.config_dir }}/recipients
    - contents_pillar: secrets:backup_age_recipient
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: mysql-backup-offsite-dir-file-directory
{%- endif %}

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
        dump_binary: {{ b.dump_binary | json }}
        extra_args: {{ b.extra_args | json }}
        root_cnf: {{ mysql.secrets_container_dir }}/root.cnf
        compose: {{ compose_cmd('mysql', mysql.compose_override) }}
        textfile_dir: {{ exporters.node_exporter.textfile_dir }}
        offsite: {{ offsite | json }}
{%- if offsite %}
        endpoint: {{ target.endpoint | json }}
        container: {{ target.container | json }}
        prefix: {{ salt['pillar.get']('lostops:minion') | json }}
        sas_file: {{ off.config_dir }}/sas
        recipients_file: {{ off.config_dir }}/recipients
        max_put_bytes: {{ off.max_put_bytes }}
        api_version: {{ off.api_version | json }}
{%- endif %}

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
{%- if offsite %}
      - pkg: mysql-backup-offsite-pkg-installed
      - file: mysql-backup-offsite-sas-file-managed
      - file: mysql-backup-offsite-recipients-file-managed
{%- endif %}
    - watch:
      - file: mysql-backup-timer-unit-file-managed
{%- else %}

mysql-backup-timer-service-dead:
  service.dead:
    - name: lostops-mysql-backup.timer
    - enable: False
{%- endif %}
