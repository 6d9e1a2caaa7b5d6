# MySQL (salt/mysql): the committed, non-secret defaults for production.
# Every key, with its formula default, is documented in salt/mysql/pillar.example.
# The image is pinned in pillar/images.sls (images:mysql). MySQL 8.0 reached
# end of life in April 2026: moving to 8.4 LTS is `images:mysql:tag: 8.4.x`
# (the configuration is written for both; see docs/mysql.md).
# Secrets (root/app/exporter passwords, the CA) come from pillar/secrets.yaml.
mysql:
  # Create/alter the app and exporter accounts (users.sql) through
  # `docker compose exec`. Needs the real MySQL image.
  manage_users: true
  # Extra [mysqld] settings (TLS/transport settings are fixed by the formula).
  config:
    max_connections: 151
    innodb_buffer_pool_size: 256M
  tls:
    # Server certificate issued on the database host by the CA in the secrets.
    days_valid: 825
    renew_days_before: 30
  backup:
    enabled: true
    on_calendar: '*-*-* 02:30:00'
    retention_days: 14
