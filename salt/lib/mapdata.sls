{#- Not part of any highstate: the merged parameters (salt/lib/map.jinja) of
    every formula, as seen on this host, one test.nop per formula with the
    data in its `mapdata` argument (the idea of template-formula's _mapdata).
    Rendered by tests/unit/test_salt_mapdata.py (`state.show_sls lib.mapdata`)
    and compared with tests/unit/snapshots/mapdata/<inventory>/<host>/<formula>.yaml. #}
{%- from 'lib/map.jinja' import load_map with context %}
{%- set formulas = [] %}
{%- for path in salt['cp.list_master']() | sort %}
{%-   set parts = path.split('/') %}
{%-   if parts | length == 3 and parts[1:] == ['parameters', 'defaults.yaml'] %}
{%-     do formulas.append(parts[0]) %}
{%-   endif %}
{%- endfor %}
{%- for formula in formulas %}

lib-mapdata-{{ formula }}-test-nop:
  test.nop:
    - name: {{ formula }}
    - mapdata: {{ load_map(formula) }}
{%- endfor %}
