# Lab only (LOSTOPS_INVENTORY=lab): no image can be pulled. Prometheus and
# Alertmanager are the REAL programs, from Debian trixie packages in lab images
# that mimic the official ones (ENTRYPOINT /bin/prometheus resp.
# /bin/alertmanager, USER nobody, WORKDIR /prometheus, busybox wget, promtool
# and amtool; tests/lab/images/). The production command, volumes, health
# checks and the in-container promtool/amtool checks run unchanged.
#  - Alertmanager 0.28.1: the production pin.
#  - Prometheus 2.53.3, NOT production's 3.5.0 (a different major; see
#    docs/lab.md for what differs).
# Grafana has no package here: it stays on the busybox stand-in, listening on
# its real internal port (NOT Grafana: no provisioning, no admin password reset).
images:
  prometheus: {name: localhost/lostops-lab-prometheus, tag: lab, digest: ''}
  alertmanager: {name: localhost/lostops-lab-alertmanager, tag: lab, digest: ''}
  grafana: {name: localhost/lostops-standin, tag: lab, digest: ''}

monitoring:
  # Lab substitution as a compose override file (compose.override.yaml next to
  # the production compose.yaml, salt/lib/compose.jinja): the stand-in listens
  # on Grafana's real internal port instead of running Grafana.
  compose_override:
    services:
      grafana:
        command: [busybox, httpd, -f, -p, '0.0.0.0:3000', -h, /www]
        healthcheck: {test: [CMD, wget, -q, -O-, 'http://127.0.0.1:3000/']}
      # No DNS and no internet in the lab: discord.com (the production webhook
      # URL's host) is the outer machine's Discord-webhook receiver, which
      # serves HTTPS with a discord.com certificate from the lab CA; the lab
      # Alertmanager image trusts that CA (tests/lab/outer.py, images/alertmanager.py).
      alertmanager:
        extra_hosts: ['discord.com:10.77.0.1']
  # Lab timing only: the e2e alert tests (test_11, test_14, test_15) wait
  # for real alerts through these intervals, one test after the other; the
  # rule files themselves (for:, expressions) are production's, unchanged.
  prometheus:
    scrape_interval: 10s      # 30s in production: a stopped target is seen down within 10 s
    evaluation_interval: 10s  # 30s in production: a rule's for: starts within 10 s of the data
  alertmanager:
    route:
      group_wait: 10s         # 30s in production: a new alert group's first message after 10 s
      # the resolved message waits for the group's next flush, 5m in production
      group_interval: 10s
  grafana:
    # Needs the grafana CLI of the real image (stand-in above).
    reset_admin_password: false
