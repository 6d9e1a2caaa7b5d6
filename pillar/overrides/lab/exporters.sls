{#- Lab only (LOSTOPS_INVENTORY=lab): no real image can be pulled, so every
    exporter runs the stand-in listener image on its real port. Ports and this
    host's private IP come from the lab inventory, not typed here. #}
{%- import_yaml 'inventory/lab.yaml' as inv %}
{%- if grains['id'] not in inv.hosts %}
{{ raise('pillar/overrides/lab/exporters.sls: minion ' ~ grains['id'] ~ ' is not a lab host') }}
{%- endif %}
{%- set ip = inv.hosts[grains['id']].private_ip %}
{%- set node = inv.services['node-exporter'].port %}
{#- The programs' own ports INSIDE their containers (salt/exporters defaults
    exporters:cadvisor:port, exporters:mysqld_exporter:port); the published
    host ports come from the inventory. #}
{%- set cadvisor = 8080 %}
{%- set mysqld_exporter = 9104 %}
images:
  # The stand-in (tests/lab/standin.py) is NOT node_exporter, cAdvisor or
  # mysqld_exporter. It proves the compose project, host networking with a
  # listener on the private IP only (node_exporter), the ports published on
  # the private IP only (cAdvisor, mysqld_exporter), the mounts and the
  # firewall (reachable from the monitoring host only).
  # Not exercised in the lab: the metrics themselves, mysqld_exporter's
  # connection to MySQL (TLS, account), cAdvisor's access to /dev/kmsg.
  node_exporter:
    name: localhost/lostops-standin
    tag: lab
    digest: ''
    # Host network: listen on the private IP only, like --web.listen-address.
    command: [httpd, -f, -p, '{{ ip }}:{{ node }}', -h, /www]
    healthcheck: [CMD, wget, -q, -O-, 'http://{{ ip }}:{{ node }}/']
  cadvisor:
    name: localhost/lostops-standin
    tag: lab
    digest: ''
    command: [httpd, -f, -p, '{{ cadvisor }}', -h, /www]
    healthcheck: [CMD, wget, -q, -O-, 'http://127.0.0.1:{{ cadvisor }}/']
  mysqld_exporter:
    name: localhost/lostops-standin
    tag: lab
    digest: ''
    command: [httpd, -f, -p, '{{ mysqld_exporter }}', -h, /www]
    healthcheck: [CMD, wget, -q, -O-, 'http://127.0.0.1:{{ mysqld_exporter }}/']

exporters:
  cadvisor:
    # systemd-nspawn test hosts have no /dev/kmsg device node to pass in.
    devices: []
