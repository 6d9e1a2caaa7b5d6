# The Laravel app (salt/app): committed, non-secret defaults for production.
# Every key, with its formula default, is documented in salt/app/pillar.example.
# The image name is pinned in pillar/images.sls (images:app); its tag is
# app:version. Secrets (APP_KEY, DB password, MySQL CA, registry token) come
# from pillar/secrets.yaml (keys app_key, mysql_app_password, mysql_ca_cert,
# registry_password).
app:
  # app:version (X.Y.Z) is deliberately not committed: the release job passes
  # the version it ships,
  #   salt-ssh '*' state.apply pillar='{"app": {"version": "X.Y.Z"}}'
  # and a plain `state.apply` (or the drift check) keeps the version the
  # backend is serving (recorded by the roll-out in
  # /var/lib/lostops/app/deployed-version), so it never rolls the app back.
  # The app's MySQL database and user: the mysql formula creates them from the
  # same keys (GRANTs, REQUIRE SSL), the app connects with them.
  database:
    name: lostops
    user: lostops
  # The port the image serves HTTP on inside the container (Traefik's target):
  # the app's image (lostops-stg5/lostops-app) is FROM php:7.4-apache, Apache
  # on 80. Change it with the image.
  port: 80
  healthcheck:
    # Laravel 8.75 has no /up route (Laravel 11+). `/` renders
    # Counter::sum('count'): 200 only when the database (over TLS) works.
    path: /
  # Run `php artisan migrate --force` in a one-off container of the new image
  # before it receives traffic (once per version).
  migrate: true
  # GHCR user for a private image (with secrets.registry_password). Empty: no login.
  registry_user: ''
