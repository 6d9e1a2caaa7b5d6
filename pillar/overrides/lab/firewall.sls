# Lab: log dropped packets (rate limited) to help debug the access-matrix tests.
firewall:
  log_drops: true
