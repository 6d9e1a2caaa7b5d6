# Lab overrides (LOSTOPS_INVENTORY=lab, the end-to-end tier): merged after the
# production pillar by pillar/top.sls. One file per formula, each owned by
# that formula's engineer. Never included for any other inventory.
include:
  - overrides.lab.common
  - overrides.lab.firewall
  - overrides.lab.docker
  - overrides.lab.traefik
  - overrides.lab.mysql
  - overrides.lab.exporters
  - overrides.lab.monitoring
  - overrides.lab.app
