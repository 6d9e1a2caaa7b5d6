{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as firewall with context %}

firewall-package-pkg-installed:
  pkg.installed:
    - name: {{ firewall.package }}
    - install_recommends: False
{%- if firewall.disable_ufw %}

firewall-ufw-disabled-cmd-run:
  cmd.run:
    - name: ufw --force disable
    - onlyif: "command -v ufw >/dev/null && ufw status | grep -q 'Status: active'"
{%- endif %}
