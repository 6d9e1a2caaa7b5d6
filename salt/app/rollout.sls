{#- Roll-out of app:version: pull (unless present locally), migrations (once
    per version, marker file), then lostops-app-rollout deploy, which starts the
    new container next to the old, waits for `healthy` and removes the old one,
    or removes the new one and fails (the old keeps serving). Second apply:
    every step's `unless` holds, 0 changes. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ '/_settings.jinja' import app, rollout with context %}
{%- set cfg = app.config_dir ~ '/rollout.json' %}

include:
  - docker
  - traefik.network
  - .config
  - .registry

app-image-pulled:
  cmd.run:
    - name: {{ app.script }} pull {{ cfg }}
    - unless: docker image inspect {{ rollout.image }} >/dev/null 2>&1
    - require:
      - service: docker-service-running
      - file: app-rollout-script-managed
      - file: app-rollout-config-managed
      - file: app-registry-password-managed
{%- if app.registry_user and salt['pillar.get']('secrets:registry_password') %}
      - cmd: app-registry-login-changed
{%- endif %}

{%- if app.migrate %}

app-migrations-run:
  cmd.run:
    - name: {{ app.script }} migrate {{ cfg }}
    - unless: test -e {{ app.state_dir }}/migrated-{{ app.version }}
    - require:
      - cmd: app-image-pulled
      - file: app-config-env-managed
      - file: app-config-mysql-ca-managed
      - file: app-state-dir-managed
      - file: app-log-dir-managed
{%- endif %}

app-rollout-deploy-run:
  cmd.run:
    - name: {{ app.script }} deploy {{ cfg }}
    - unless: {{ app.script }} check {{ cfg }}
    - require:
      - cmd: app-image-pulled
      - cmd: traefik-network-proxy-managed
      - file: app-rollout-script-managed
      - file: app-rollout-config-managed
      - file: app-config-env-managed
      - file: app-config-mysql-ca-managed
      - file: app-log-dir-managed
{%- if app.migrate %}
      - cmd: app-migrations-run
{%- endif %}
