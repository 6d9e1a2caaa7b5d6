# Lab only (LOSTOPS_INVENTORY=lab): no real image can be pulled, so
# Prometheus, Alertmanager and Grafana run the stand-in listener image on their
# real internal ports (9090, 9093, 3000). The lab proves that these ports are
# NOT reachable from outside (nothing is published; only Traefik on 80/443),
# not that Prometheus/Grafana work. Not exercised in the lab: promtool/amtool
# checks inside the containers, the Grafana admin password reset (both need
# the real images), Discord delivery.
images:
  prometheus:
    name: localhost/lostops-standin
    tag: lab
    digest: ''
    command: [busybox, httpd, -f, -p, '0.0.0.0:9090', -h, /www]
    healthcheck: [CMD, wget, -q, -O-, 'http://127.0.0.1:9090/']
  alertmanager:
    name: localhost/lostops-standin
    tag: lab
    digest: ''
    command: [busybox, httpd, -f, -p, '0.0.0.0:9093', -h, /www]
    healthcheck: [CMD, wget, -q, -O-, 'http://127.0.0.1:9093/']
  grafana:
    name: localhost/lostops-standin
    tag: lab
    digest: ''
    command: [busybox, httpd, -f, -p, '0.0.0.0:3000', -h, /www]
    healthcheck: [CMD, wget, -q, -O-, 'http://127.0.0.1:3000/']

monitoring:
  check_in_container: false
  grafana:
    reset_admin_password: false
