# Monitoring stack (salt/monitoring): committed, non-secret site values.
# Everything else has a formula default (salt/monitoring/parameters/defaults.yaml);
# every key is documented in salt/monitoring/pillar.example.
# Secrets (secrets:discord_webhook_url, secrets:grafana_admin_password,
# secrets:prometheus_basic_auth) come from pillar/secrets.yaml.
monitoring:
  prometheus:
    scrape_interval: 30s
    evaluation_interval: 30s
    retention_time: 30d
    retention_size: 20GB
  alertmanager:
    route:
      group_by: [alertname, host]
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 4h
  grafana:
    admin_user: admin
