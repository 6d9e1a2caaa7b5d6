{#- Image archives for air-gapped hosts: `docker load -i <archive>` unless the
    image is already there. Formulas that use a preloaded image require
    `test: docker-images-preloaded-test-nop`. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as docker with context %}

include:
  - .service

{%- for item in docker.preload %}

docker-preload-{{ loop.index }}-cmd-run:
  cmd.run:
    # Fails if the archive did not hold the image (the next run would load again).
    - name: docker load -i {{ item.archive }} && docker image inspect {{ item.image }} >/dev/null
    - unless: docker image inspect {{ item.image }} >/dev/null
    - require:
      - service: docker-service-running
{%- endfor %}

docker-images-preloaded-test-nop:
  test.nop:
    - require:
      - service: docker-service-running
{%- for item in docker.preload %}
      - cmd: docker-preload-{{ loop.index }}-cmd-run
{%- endfor %}
