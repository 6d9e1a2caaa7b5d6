{#- Lab only (LOSTOPS_INVENTORY=lab): no real image can be pulled, so MySQL
    runs the stand-in listener image on its real port. Port from the lab
    inventory, not typed here (the container side equals the published one). #}
{%- import_yaml 'inventory/lab.yaml' as inv %}
{%- set port = inv.services.mysql.port %}
images:
  # The stand-in (tests/lab/standin.py) is NOT MySQL. It proves the compose
  # project, the port published on the private IP only (3306 reachable from
  # the backend, nothing on 33060), the data/config/TLS mounts, re-creation
  # on a config change and the firewall.
  # Not exercised in the lab: mysqld itself, TLS enforcement, users.sql
  # (manage_users below), the healthcheck with mysqladmin, and the backup
  # service (its timer is installed and active; the dump would fail).
  mysql:
    name: localhost/lostops-standin
    tag: lab
    digest: ''
    command: [httpd, -f, -p, '{{ port }}', -h, /www]
    healthcheck: [CMD, wget, -q, -O-, 'http://127.0.0.1:{{ port }}/']

mysql:
  # users.sql needs the real mysql client and server.
  manage_users: false
