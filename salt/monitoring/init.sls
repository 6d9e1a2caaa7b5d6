{#- Prometheus, Alertmanager and Grafana on the monitoring host: one compose
    project behind Traefik (no published ports). See docs/monitoring.md. #}
include:
  - .config
  - .service
