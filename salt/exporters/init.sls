{#- Metrics exporters on every host, one compose project `exporters`:
    node_exporter and cAdvisor everywhere, mysqld_exporter on the database
    (exporters:roles). All on the private IP only. #}
include:
  - .config
  - .service
