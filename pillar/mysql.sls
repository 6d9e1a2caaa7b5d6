# MySQL (salt/mysql): committed, non-secret production values, only where they
# differ from salt/mysql/parameters/defaults.yaml (every key is documented in
# salt/mysql/pillar.example). Today nothing differs.
# The image is pinned in pillar/images.sls (images:mysql). MySQL 8.0 reached
# end of life in April 2026: moving to 8.4 LTS is `images:mysql:tag: 8.4.x`
# (the configuration is written for both; see docs/mysql.md).
# Secrets (root/app/exporter passwords, the CA) come from pillar/secrets.yaml.
#
# Production relies on these defaults: users.sql applied through `docker
# compose exec` (mysql:manage_users, needs the real MySQL image), the server
# certificate issued on the database host by the CA in the secrets (825 days,
# renewed 30 days before expiry), nightly dumps at 02:30 UTC kept 14 days.
mysql: {}
