{#- Optional login to the image registry (GHCR), when pillar app:registry_user
    and secrets.registry_password are both set. The token goes through a 0600
    file into `docker login --password-stdin`: never on a command line. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ '/_settings.jinja' import app with context %}
{%- set image_name = salt['pillar.get']('images:app:name', '') %}
{%- set registry = image_name.split('/')[0] if '/' in image_name and '.' in image_name.split('/')[0] else 'docker.io' %}
{%- set password_file = app.config_dir ~ '/registry-password' %}
{%- set login = 'docker login ' ~ registry ~ ' --username ' ~ app.registry_user ~ ' --password-stdin < ' ~ password_file %}

include:
  - docker
  - .config

{%- if app.registry_user and salt['pillar.get']('secrets:registry_password') %}

app-registry-password-file-managed:
  file.managed:
    - name: {{ password_file }}
    - contents_pillar: secrets:registry_password
    - show_changes: False
    - user: root
    - group: root
    - mode: '0600'
    - require:
      - file: app-config-dir-file-directory

app-registry-login-cmd-run:
  cmd.run:
    - name: {{ login }}
    - unless: grep -qs '"{{ registry }}"' /root/.docker/config.json
    - require:
      - file: app-registry-password-file-managed
      - service: docker-service-running

app-registry-login-changed-cmd-run:
  cmd.run:
    - name: {{ login }}
    - onchanges:
      - file: app-registry-password-file-managed
    - require:
      - cmd: app-registry-login-cmd-run
{%- else %}

app-registry-password-file-absent:
  file.absent:
    - name: {{ password_file }}
{%- endif %}
