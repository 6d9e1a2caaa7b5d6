{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as docker with context %}

docker-config-daemon-file-serialize:
  file.serialize:
    - name: {{ docker.config_file }}
    - dataset: {{ docker.daemon | json }}
    - serializer: json
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: True
