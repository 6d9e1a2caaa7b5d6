{#- Lab only (LOSTOPS_INVENTORY=lab): the end-to-end hosts have no internet
    and cannot pull images. Ports come from the lab inventory, not typed here. #}
{%- import_yaml 'inventory/lab.yaml' as inv %}
{%- set http = inv.services.http.port %}
{%- set https = inv.services.https.port %}
{%- set metrics = inv.services['traefik-metrics'].port %}
traefik:
  acme:
    # No Let's Encrypt in the lab: Traefik would serve its default self-signed
    # certificate (the lab hosts are unreachable from Let's Encrypt anyway).
    enabled: false
  tls:
    # Without ACME there is no certificate matching the SNI; sniStrict would
    # then refuse every handshake. Only matters if the lab runs the real Traefik.
    sni_strict: false

images:
  # The stand-in listener (tests/lab/standin.py): it is NOT Traefik. It proves
  # the compose project, the published ports (80/443 on all addresses, metrics
  # on the private IP only), volumes and the firewall. Busybox httpd serves one
  # port per process: two daemons in the background, the last in the foreground.
  # Not exercised in the lab: redirects, TLS, ACME, routing, metrics content.
  traefik:
    name: localhost/lostops-standin
    tag: lab
    digest: ''
    command: [sh, -c, "httpd -p {{ http }} -h /www; httpd -p {{ https }} -h /www; exec httpd -f -p {{ metrics }} -h /www"]
    healthcheck: [CMD, wget, -q, -O-, "http://127.0.0.1:{{ http }}/"]
