{#- Traefik v3: the only service that publishes ports publicly (80/443), the
    TLS terminator and router for every routed container (docker provider,
    labels, network `proxy`), plus its metrics entrypoint on the private IP.
    Applies to the backend and monitoring hosts. #}
include:
  - .network
  - .config
  - .service
