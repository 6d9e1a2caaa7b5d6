{#- The minimal package list of this host's role (map: packages:all + packages:<role>). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as common with context %}
{%- set role = salt['pillar.get']('lostops:host:role') %}
{%- set pkgs = common.packages.get('all', []) + common.packages.get(role, []) %}

{%- if pkgs %}

common-packages-pkg-installed:
  pkg.installed:
    - pkgs: {{ pkgs | json }}
    - install_recommends: False
{%- endif %}
