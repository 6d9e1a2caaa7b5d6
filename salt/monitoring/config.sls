{#- Configuration, secrets and data directories of the monitoring project.
    Directories (not single files) are bind-mounted read-only, so a file that
    Salt replaces (new inode) is seen by the running container. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as m with context %}
{%- set cfg = m.config_dir %}

monitoring-config-dir-file-directory:
  file.directory:
    - name: {{ cfg }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True

{#- ---- data (owned by the container users) ---- #}
{%- for svc in ['prometheus', 'alertmanager', 'grafana'] %}

monitoring-{{ svc }}-data-dir-file-directory:
  file.directory:
    - name: {{ m.data_dir }}/{{ svc }}
    - user: {{ m[svc].uid }}
    - group: {{ m[svc].gid }}
    - mode: '0750'
    - makedirs: True
{%- endfor %}

{#- ---- Prometheus ---- #}

monitoring-prometheus-config-dir-file-directory:
  file.directory:
    - name: {{ cfg }}/prometheus
    - user: root
    - group: root
    - mode: '0755'
    - require:
      - file: monitoring-config-dir-file-directory

monitoring-prometheus-config-file-managed:
  file.managed:
    - name: {{ cfg }}/prometheus/prometheus.yml
    - source: salt://{{ tplroot }}/files/prometheus/prometheus.yml.jinja
    - template: jinja
    - context:
        tplroot: {{ tplroot }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: monitoring-prometheus-config-dir-file-directory

monitoring-prometheus-rules-dir-file-recurse:
  file.recurse:
    - name: {{ cfg }}/prometheus/rules
    - source: salt://{{ tplroot }}/files/prometheus/rules
    - user: root
    - group: root
    - dir_mode: '0755'
    - file_mode: '0644'
    - include_pat: '*.yml'
    - clean: True
    - require:
      - file: monitoring-prometheus-config-dir-file-directory

{#- ---- Alertmanager ---- #}

monitoring-alertmanager-config-dir-file-directory:
  file.directory:
    - name: {{ cfg }}/alertmanager
    - user: root
    - group: {{ m.alertmanager.gid }}
    - mode: '0750'
    - require:
      - file: monitoring-config-dir-file-directory

monitoring-alertmanager-config-file-managed:
  file.managed:
    - name: {{ cfg }}/alertmanager/alertmanager.yml
    - source: salt://{{ tplroot }}/files/alertmanager/alertmanager.yml.jinja
    - template: jinja
    - context:
        tplroot: {{ tplroot }}
    - user: root
    - group: {{ m.alertmanager.gid }}
    - mode: '0640'
    - require:
      - file: monitoring-alertmanager-config-dir-file-directory

{#- The webhook URL is a secret: its own file, read by Alertmanager through
    discord_configs.webhook_url_file, never inline in alertmanager.yml. #}
monitoring-alertmanager-discord-secret-file-managed:
  file.managed:
    - name: {{ cfg }}/alertmanager/discord_webhook_url
    - contents_pillar: secrets:discord_webhook_url
    - contents_newline: False
    - show_changes: False
    - user: root
    - group: {{ m.alertmanager.gid }}
    - mode: '0640'
    - require:
      - file: monitoring-alertmanager-config-dir-file-directory

{#- ---- Grafana ---- #}

monitoring-grafana-config-dir-file-directory:
  file.directory:
    - name: {{ cfg }}/grafana
    - user: root
    - group: root
    - mode: '0755'
    - require:
      - file: monitoring-config-dir-file-directory

monitoring-grafana-provisioning-dir-file-recurse:
  file.recurse:
    - name: {{ cfg }}/grafana/provisioning
    - source: salt://{{ tplroot }}/files/grafana/provisioning
    - template: jinja
    - context:
        tplroot: {{ tplroot }}
    - user: root
    - group: root
    - dir_mode: '0755'
    - file_mode: '0644'
    - clean: True
    - require:
      - file: monitoring-grafana-config-dir-file-directory

monitoring-grafana-dashboards-dir-file-recurse:
  file.recurse:
    - name: {{ cfg }}/grafana/dashboards
    - source: salt://{{ tplroot }}/files/grafana/dashboards
    - user: root
    - group: root
    - dir_mode: '0755'
    - file_mode: '0644'
    - include_pat: '*.json'
    - clean: True
    - require:
      - file: monitoring-grafana-config-dir-file-directory

monitoring-grafana-secrets-dir-file-directory:
  file.directory:
    - name: {{ cfg }}/grafana/secrets
    - user: root
    - group: {{ m.grafana.gid }}
    - mode: '0750'
    - require:
      - file: monitoring-grafana-config-dir-file-directory

{%- for name, key in [('admin_password', 'grafana_admin_password'),
                      ('discord_webhook_url', 'discord_webhook_url')] %}

monitoring-grafana-{{ name | replace('_', '-') }}-secret-file-managed:
  file.managed:
    - name: {{ cfg }}/grafana/secrets/{{ name }}
    - contents_pillar: secrets:{{ key }}
    - contents_newline: False
    - show_changes: False
    - user: root
    - group: {{ m.grafana.gid }}
    - mode: '0640'
    - require:
      - file: monitoring-grafana-secrets-dir-file-directory
{%- endfor %}
