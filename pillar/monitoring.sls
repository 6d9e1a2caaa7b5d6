# Monitoring stack (salt/monitoring): committed, non-secret production values,
# only where they differ from salt/monitoring/parameters/defaults.yaml (every
# key is documented in salt/monitoring/pillar.example).
# Secrets (secrets:discord_webhook_url, secrets:grafana_admin_password,
# secrets:prometheus_basic_auth) come from pillar/secrets.yaml.
monitoring:
  prometheus:
    # Production keeps 30 days of metrics, at most 20 GB (whichever comes first).
    retention_time: 30d
    retention_size: 20GB
