{#- Restarted (not reloaded) when daemon.json changes: log options are not
    reloadable. live-restore keeps the containers running meanwhile. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as docker with context %}

include:
  - .package
  - .config

docker-service-running:
  service.running:
    - name: {{ docker.service }}
    - enable: True
    - require:
      - pkg: docker-package-pkg-installed
    - watch:
      - file: docker-config-daemon-file-serialize
