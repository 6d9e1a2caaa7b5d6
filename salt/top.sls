# State top: formulas per minion id (the inventory's host names; salt-ssh's
# roster, etc/salt/roster, uses the same ids). Order matters: common and
# firewall first (the host is locked down before anything listens), docker
# before every compose project.
base:
  backend:
    - common
    - firewall
    - docker
    - traefik
    - exporters
    - app
  database:
    - common
    - firewall
    - docker
    - mysql
    - exporters
  monitoring:
    - common
    - firewall
    - docker
    - traefik
    - exporters
    - monitoring
