{#- nftables.service loads the ruleset at boot. It is enabled, never
    restarted by Salt (the ruleset is loaded by config.sls), and its stop
    action deletes only our table instead of `nft flush ruleset`. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as firewall with context %}

include:
  - .config

firewall-service-dropin-file-managed:
  file.managed:
    - name: {{ firewall.service_dropin }}
    - makedirs: True
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by Salt (firewall formula). The distribution's ExecStop is
        # `nft flush ruleset`, which would also remove Docker's rules.
        [Service]
        ExecStop=
        ExecStop=-/usr/sbin/nft delete table inet {{ firewall.table }}

firewall-service-daemon-reload-cmd-run:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: firewall-service-dropin-file-managed

firewall-service-enabled:
  service.enabled:
    - name: {{ firewall.service }}
    - require:
      - cmd: firewall-service-daemon-reload-cmd-run
      - file: firewall-config-file-managed
