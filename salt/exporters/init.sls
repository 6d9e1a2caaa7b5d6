{#- Metrics exporters on every host, one compose project `exporters`:
    node_exporter and cAdvisor everywhere, mysqld_exporter on the database
    (the role's exporters, lostops:host:exporters from lostops/roles.py). All on the private IP only. #}
include:
  - .config
  - .service
