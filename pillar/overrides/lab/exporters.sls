{#- Lab only (LOSTOPS_INVENTORY=lab): no image can be pulled.
    node_exporter and mysqld_exporter are the REAL programs (Debian trixie
    packages in lab images that mimic the official ones: ENTRYPOINT
    /bin/node_exporter resp. /bin/mysqld_exporter, USER nobody, busybox wget;
    tests/lab/images/); the production command, volumes and health checks
    run unchanged.
     - mysqld_exporter 0.17.2: the production pin.
     - node_exporter 1.9.0: production pins 1.9.1 (no Debian 1.9.1).
    cAdvisor has no package here: it stays on the busybox stand-in on its real
    port (NOT cAdvisor: no container metrics). #}
{%- set cadvisor = 8080 %}
images:
  node_exporter: {name: localhost/lostops-lab-node-exporter, tag: lab, digest: ''}
  mysqld_exporter: {name: localhost/lostops-lab-mysqld-exporter, tag: lab, digest: ''}
  cadvisor: {name: localhost/lostops-standin, tag: lab, digest: ''}

exporters:
  # Lab substitution as a compose override file (salt/lib/compose.jinja): the
  # stand-in listens on cAdvisor's real port instead of running cAdvisor.
  compose_override:
    services:
      cadvisor:
        command: [httpd, -f, -p, '{{ cadvisor }}', -h, /www]
        healthcheck: {test: [CMD, wget, -q, -O-, 'http://127.0.0.1:{{ cadvisor }}/']}
  compose:
    healthcheck:
      # Lab timing only: a health check every 5 s once started (30 s in
      # production). The first checks come every start_interval (2 s, as in
      # production) during start_period either way.
      interval: 5s
  cadvisor:
    # systemd-nspawn test hosts have no /dev/kmsg device node to pass in.
    devices: []
