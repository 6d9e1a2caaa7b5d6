# Exporters (salt/exporters): the committed, non-secret defaults for production.
# Every key, with its formula default, is documented in salt/exporters/pillar.example.
# Images are pinned in pillar/images.sls (node_exporter, cadvisor,
# mysqld_exporter); ports come from the inventory (lostops:services).
# Which exporters run on a host of each role: lostops/roles.py (pillar
# lostops:host:exporters), not here.
exporters: {}
