{#- The ruleset file. Rendered here (not with template: jinja) so that
    `state.show_highstate` shows the exact text: the unit tests load it into a
    network namespace with the real nft. Checked with `nft -c -f` before it
    replaces the file; loaded with `nft -f` only when it changed, or when our
    table is missing (someone ran `nft flush ruleset`). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as firewall with context %}
{%- set lostops = salt['pillar.get']('lostops') %}
{%- set ruleset %}{% include tplroot ~ '/files/nftables.conf.jinja' %}{% endset %}
{%- set loader %}{% include tplroot ~ '/files/load.sh.jinja' %}{% endset %}

include:
  - .package

firewall-config-file-managed:
  file.managed:
    - name: {{ firewall.config_file }}
    - user: root
    - group: root
    - mode: '0600'
    - contents: {{ ruleset | json }}
    - check_cmd: nft -c -f
    - require:
      - pkg: firewall-package-pkg-installed

{#- The loader keeps the just-in-time elements across a reload (files/load.sh.jinja). #}
firewall-loader-file-managed:
  file.managed:
    - name: {{ firewall.loader }}
    - user: root
    - group: root
    - mode: '0750'
    - contents: {{ loader | json }}

firewall-ruleset-load-cmd-run:
  cmd.run:
    - name: {{ firewall.loader }} {{ firewall.config_file }}
    - onchanges:
      - file: firewall-config-file-managed
    - require:
      - file: firewall-loader-file-managed

firewall-ruleset-present-cmd-run:
  cmd.run:
    - name: {{ firewall.loader }} {{ firewall.config_file }}
    - unless: nft list table inet {{ firewall.table }}
    - require:
      - cmd: firewall-ruleset-load-cmd-run
