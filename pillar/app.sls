# The Laravel app (salt/app): committed, non-secret production values, only
# where they differ from the formula defaults (salt/app/parameters/defaults.yaml;
# every key is documented in salt/app/pillar.example). Today nothing differs.
# The image name is pinned in pillar/images.sls (images:app); its tag is
# app:version. Secrets (APP_KEY, DB password, MySQL CA, registry token) come
# from pillar/secrets.yaml (keys app_key, mysql_app_password, mysql_ca_cert,
# registry_password).
#
# app:version (X.Y.Z) is deliberately not committed: the release job passes
# the version it ships,
#   salt-ssh '*' state.apply pillar='{"app": {"version": "X.Y.Z"}}'
# and a plain `state.apply` (or the drift check) keeps the version the
# backend is serving (recorded by the roll-out in
# /var/lib/lostops/app/deployed-version), so it never rolls the app back.
#
# Production relies on these defaults: the port (80: the app's image,
# lostops-stg5/lostops-app, is FROM php:7.4-apache), the health path (`/`:
# Laravel 8.75 has no /up; `/` answers 200 only when the database over TLS
# works), migrations before traffic (once per version), the database and
# account `lostops` (the mysql formula creates them from app:database), and
# no registry login (app:registry_user empty; set it with
# secrets.registry_password for a private image).
app: {}
