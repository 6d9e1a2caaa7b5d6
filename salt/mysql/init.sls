{#- MySQL (8.0, or 8.4 LTS by pillar images:mysql:tag) in the compose project
    `mysql` on the database host: TLS enforced by the server, published only
    on the private IP, data on a host path, users from pillar, nightly dumps. #}
include:
  - .config
  - .tls
  - .network
  - .service
  - .users
  - .backup
