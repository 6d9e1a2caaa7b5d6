# Traefik (salt/traefik): committed, non-secret production values, only where
# they differ from salt/traefik/parameters/defaults.yaml (every key is
# documented in salt/traefik/pillar.example). Today nothing differs.
# The image is pinned in pillar/images.sls (images:traefik).
#
# Production relies on these defaults: Let's Encrypt's production CA
# (certificatesResolvers.le, HTTP-01 on the `web` entrypoint; traefik:acme:email
# empty means hostmaster@<lostops:zone>, the ACME account's contact), and no
# dashboard (when enabled: its own host rule, basicAuth from
# secrets.traefik_dashboard_auth).
# Let's Encrypt sends NO expiry e-mails since June 2025. The only warning of a
# certificate that fails to renew is the Prometheus alert
# TLSCertificateExpiringSoon (14 days, salt/monitoring), evaluated on the
# monitoring host: there is no check from outside it (docs/monitoring.md).
traefik: {}
