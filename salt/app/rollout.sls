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

app-image-pull-cmd-run:
  cmd.run:
    - name: {{ app.script }} pull {{ cfg }}
    - unless: docker image inspect {{ rollout.image }} >/dev/null 2>&1
    - require:
      - service: docker-service-running
      - file: app-rollout-script-file-managed
      - file: app-rollout-config-file-serialize
{%- if app.registry_user and salt['pillar.get']('secrets:registry_password') %}
      - file: app-registry-password-file-managed
      - cmd: app-registry-login-changed-cmd-run
{%- else %}
      - file: app-registry-password-file-absent
{%- endif %}

{%- if app.migrate %}

app-migrations-cmd-run:
  cmd.run:
    - name: {{ app.script }} migrate {{ cfg }}
    - unless: test -e {{ app.state_dir }}/migrated-{{ app.version }}
    - require:
      - cmd: app-image-pull-cmd-run
      - file: app-config-env-file-managed
      - file: app-config-mysql-ca-file-managed
      - file: app-state-dir-file-directory
      - file: app-log-dir-file-directory
{%- endif %}

app-rollout-deploy-cmd-run:
  cmd.run:
    - name: {{ app.script }} deploy {{ cfg }}
    - unless: {{ app.script }} check {{ cfg }}
    - require:
      - cmd: app-image-pull-cmd-run
      - cmd: traefik-network-proxy-cmd-run
      - file: app-rollout-script-file-managed
      - file: app-rollout-config-file-serialize
      - file: app-config-env-file-managed
      - file: app-config-mysql-ca-file-managed
      - file: app-log-dir-file-directory
{%- if app.migrate %}
      - cmd: app-migrations-cmd-run
{%- endif %}
