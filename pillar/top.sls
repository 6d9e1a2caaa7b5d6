{#- Pillar top. Every host gets the inventory pillar (key `lostops`, from the
    #!py file inventory_pillar.sls, which also filters secrets by role) and the
    committed, non-secret formula defaults; salt/top.sls applies the formulas
    of each host's role (lostops:host:formulas, from lostops/roles.py).
    pillar/overrides/<inventory>/ is merged last: the differences of one
    environment, e.g. the end-to-end lab (LOSTOPS_INVENTORY=lab). #}
{%- set inventory = salt['environ.get']('LOSTOPS_INVENTORY', 'example') %}
base:
  '*':
    - inventory_pillar
    - images
    - common
    - firewall
    - docker
    - exporters
    - traefik
    - mysql
    - monitoring
    - app
    - overrides.{{ inventory }}
    - ignore_missing: True
