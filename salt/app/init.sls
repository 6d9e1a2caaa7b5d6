{#- The Laravel app on the backend: env file + MySQL CA, optional registry
    login, then the health-checked roll-out (with roll-back) of
    `<container_name>-<version>` behind Traefik. See docs/app-rollout.md. #}
include:
  - .config
  - .registry
  - .rollout
