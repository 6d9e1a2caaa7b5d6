{#- The docker network shared by mysql and mysqld_exporter (exporters
    formula): internal (no route out), fixed subnet, because the exporter's
    MySQL account is bound to it. Other formulas require
    `cmd: mysql-network-internal-cmd-run`. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as mysql with context %}
{%- set net = mysql.internal_network %}

include:
  - docker

mysql-network-internal-cmd-run:
  cmd.run:
    - name: docker network create --driver bridge --internal --subnet {{ net.subnet }} {{ net.name }}
    - unless: docker network inspect {{ net.name }} >/dev/null 2>&1
    - require:
      - service: docker-service-running
