{#- Applied by salt/top.sls only to a minion whose pillar has no
    lostops:host:formulas: fails the render with one line. #}
{%- set lostops = salt['pillar.get']('lostops', {}) %}
{%- set minion = lostops.get('minion') or grains.get('id') or opts.get('id') %}
{%- set role = (lostops.get('host') or {}).get('role', '?') %}
{%- if not lostops %}
{{ raise('lostops:host:formulas: minion ' ~ minion ~ ' has no inventory pillar (pillar/top.sls must include inventory_pillar)') }}
{%- else %}
{{ raise('lostops:host:formulas: host ' ~ minion ~ ' (role ' ~ role ~ ') has no formulas; add them to its role in lostops/roles.py') }}
{%- endif %}
