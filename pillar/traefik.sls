# Traefik (salt/traefik): committed, non-secret production values, only where
# they differ from salt/traefik/parameters/defaults.yaml (every key is
# documented in salt/traefik/pillar.example). Today nothing differs.
# The image is pinned in pillar/images.sls (images:traefik).
#
# Production relies on these defaults: Let's Encrypt's production CA
# (certificatesResolvers.le, HTTP-01 on the `web` entrypoint; traefik:acme:email
# empty means hostmaster@<lostops:zone>, which gets the expiry warnings), and
# no dashboard (when enabled: its own host rule, basicAuth from
# secrets.traefik_dashboard_auth).
traefik: {}
