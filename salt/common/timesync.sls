{#- Time sync with chrony (distribution default servers; Azure images add the
    Hyper-V PTP clock themselves). Conflicting daemons (systemd-timesyncd)
    are removed first: only one may discipline the clock.
    In containers (common:timesync:container, the lab) chronyd runs with -x
    and without the CAP_SYS_TIME condition: it runs, it is not required to
    adjust the clock. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as common with context %}
{%- set ts = common.timesync %}
{%- set opts = ts.daemon_opts ~ (' -x' if ts.container else '') %}

{%- if ts.conflicts %}

common-timesync-conflicts-pkg-removed:
  pkg.removed:
    - pkgs: {{ ts.conflicts | json }}
{%- endif %}

common-timesync-package-pkg-installed:
  pkg.installed:
    - name: {{ ts.package }}
    - install_recommends: False
{%- if ts.conflicts %}
    - require:
      - pkg: common-timesync-conflicts-pkg-removed
{%- endif %}

common-timesync-defaults-file-managed:
  file.managed:
    - name: {{ ts.defaults_file }}
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by Salt (common formula). Options for chronyd.
        DAEMON_OPTS="{{ opts }}"
    - require:
      - pkg: common-timesync-package-pkg-installed

common-timesync-container-dropin-file-{{ 'managed' if ts.container else 'absent' }}:
{%- if ts.container %}
  file.managed:
    - name: {{ ts.dropin }}
    - makedirs: True
    - mode: '0644'
    - contents: |
        # Managed by Salt (common formula): container without CAP_SYS_TIME.
        # Reset the capability condition; chronyd runs with -x (see DAEMON_OPTS).
        [Unit]
        ConditionCapability=
{%- else %}
  file.absent:
    - name: {{ ts.dropin }}
{%- endif %}

common-timesync-daemon-reload-cmd-run:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: common-timesync-container-dropin-file-{{ 'managed' if ts.container else 'absent' }}

common-timesync-service-running:
  service.running:
    - name: {{ ts.service }}
    - enable: True
    - watch:
      - file: common-timesync-defaults-file-managed
      - cmd: common-timesync-daemon-reload-cmd-run
