{#- The compose project and the hot reloads.
    - Prometheus / Alertmanager: config or rules changed -> validated inside
      the running container (promtool / amtool), then SIGHUP (hot reload).
    - Grafana: provisioning or secrets changed -> restart of grafana only
      (dashboards JSON is polled by the provider, no restart needed).
    The in-container checks and the admin password reset need the real
    images: pillar monitoring:check_in_container / grafana:reset_admin_password
    switch them off (the lab does, its stand-in image has no promtool). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as m with context %}
{%- from 'lib/compose.jinja' import compose_project, compose_cmd with context %}
{%- set compose = compose_cmd(m.project, m.compose_override) %}
{%- set cfg = m.config_dir %}

{{ compose_project(
     m.project,
     'salt://' ~ tplroot ~ '/files/compose.yaml.jinja',
     context={'tplroot': tplroot},
     recreate_on=[],
     override=m.compose_override,
     require=[
       {'cmd': 'traefik-network-proxy-cmd-run'},
       {'file': 'monitoring-prometheus-data-dir-file-directory'},
       {'file': 'monitoring-alertmanager-data-dir-file-directory'},
       {'file': 'monitoring-grafana-data-dir-file-directory'},
       {'file': 'monitoring-prometheus-config-file-managed'},
       {'file': 'monitoring-prometheus-rules-dir-file-recurse'},
       {'file': 'monitoring-alertmanager-config-file-managed'},
       {'file': 'monitoring-alertmanager-discord-secret-file-managed'},
       {'file': 'monitoring-grafana-provisioning-dir-file-recurse'},
       {'file': 'monitoring-grafana-dashboards-dir-file-recurse'},
       {'file': 'monitoring-grafana-admin-password-secret-file-managed'},
       {'file': 'monitoring-grafana-discord-webhook-url-secret-file-managed'},
     ]) }}

{#- The SIGHUP is sent from inside the container (`exec ... kill -HUP 1`),
    never with `docker kill -s SIGHUP`: Docker marks a container it signalled
    with `kill` as manually stopped, and `restart: unless-stopped` then does
    NOT start it again after a host reboot (found by the end-to-end tier). #}
monitoring-prometheus-reload-cmd-run:
  cmd.run:
    - name: >-
{%- if m.check_in_container %}
        {{ compose }} exec -T prometheus promtool check config /etc/prometheus/prometheus.yml &&
{%- endif %}
        {{ compose }} exec -T prometheus kill -HUP 1
    - onchanges:
      - file: monitoring-prometheus-config-file-managed
      - file: monitoring-prometheus-rules-dir-file-recurse
    - require:
      - cmd: {{ m.project }}-compose-changed-cmd-run

monitoring-alertmanager-reload-cmd-run:
  cmd.run:
    - name: >-
{%- if m.check_in_container %}
        {{ compose }} exec -T alertmanager amtool check-config /etc/alertmanager/alertmanager.yml &&
{%- endif %}
        {{ compose }} exec -T alertmanager kill -HUP 1
    - onchanges:
      - file: monitoring-alertmanager-config-file-managed
    - require:
      - cmd: {{ m.project }}-compose-changed-cmd-run

monitoring-grafana-restart-cmd-run:
  cmd.run:
    - name: {{ compose }} restart grafana
    - onchanges:
      - file: monitoring-grafana-provisioning-dir-file-recurse
      - file: monitoring-grafana-discord-webhook-url-secret-file-managed
    - require:
      - cmd: {{ m.project }}-compose-changed-cmd-run

{%- if m.grafana.reset_admin_password %}

{#- GF_SECURITY_ADMIN_PASSWORD__FILE only applies when Grafana creates its
    database; a changed secret is applied with the CLI (password on stdin,
    never on a command line). #}
monitoring-grafana-admin-password-reset-cmd-run:
  cmd.run:
    - name: >-
        {{ compose }} exec -T grafana grafana cli admin reset-admin-password --password-from-stdin
        < {{ cfg }}/grafana/secrets/admin_password
    - onchanges:
      - file: monitoring-grafana-admin-password-secret-file-managed
    - require:
      - cmd: monitoring-grafana-restart-cmd-run
{%- endif %}
