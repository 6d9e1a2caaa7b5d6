# Lab: Debian's docker.io + docker-compose (v2 on trixie) from the apt proxy,
# and images loaded from archives every lab host has (no registry is
# reachable). Formulas using them require test: docker-images-preloaded.
#  - /var/lib/lostops-lab/images.tar: the lab images of the REAL programs
#    (tests/lab/images/: Traefik, its Docker socket proxy (HAProxy), Prometheus, Alertmanager, node_exporter,
#    mysqld_exporter, MySQL 9.7, the PHP app stand-in), one layer per base root; the
#    first entry loads them all, the others only check that they are there.
#  - /var/lib/lostops-lab/standin.tar: the busybox stand-in, still used by
#    Grafana and cAdvisor (no package of either exists here).
docker:
  install_mode: distro
  preload:
{%- for name in ['traefik', 'docker-socket-proxy', 'prometheus', 'alertmanager', 'node-exporter', 'mysqld-exporter', 'mysql', 'app'] %}
    - archive: /var/lib/lostops-lab/images.tar
      image: localhost/lostops-lab-{{ name }}:lab
{%- endfor %}
    - archive: /var/lib/lostops-lab/standin.tar
      image: localhost/lostops-standin:lab
