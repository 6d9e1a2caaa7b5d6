# Traefik (salt/traefik): the committed, non-secret defaults for production.
# Every key, with its formula default, is documented in salt/traefik/pillar.example.
# The image is pinned in pillar/images.sls (images:traefik).
traefik:
  acme:
    # Let's Encrypt (certificatesResolvers.le, HTTP-01 on the `web` entrypoint).
    enabled: true
    # Empty: hostmaster@<lostops:zone>. Let's Encrypt mails expiry warnings here.
    email: ''
    # true: Let's Encrypt's staging CA (untrusted certificates, generous rate limits).
    staging: false
  dashboard:
    # Off. When on: its own host rule, basicAuth from secrets.traefik_dashboard_auth.
    enabled: false
    host: ''
