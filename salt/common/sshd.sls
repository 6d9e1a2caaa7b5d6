{#- sshd hardening through a drop-in sorted first in /etc/ssh/sshd_config.d/
    (sshd keeps the first value of a keyword; Debian 12+/Ubuntu 22.04+
    include the directory at the top of sshd_config).
    Validation before anything is reloaded:
      1. check_cmd: the new drop-in alone must parse (`sshd -t -f <candidate>`),
         otherwise it is not even written;
      2. the whole configuration must pass `sshd -t` and sshd -T must show
         the drop-in in effect (password logins off) — only then is sshd reloaded.
    A reload keeps established sessions, including salt-ssh's own. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as common with context %}
{%- set lostops = salt['pillar.get']('lostops') %}
{%- set ssh_user = lostops.ssh_user %}
{%- set sshd = common.sshd %}
{%- set ns = namespace(jump=False) %}
{%- for name, h in lostops.hosts.items() %}
{%-   if h.ssh_via == lostops.minion %}{% set ns.jump = True %}{% endif %}
{%- endfor %}
{%- set allow_users = [ssh_user] %}
{%- for name, user in common.users | dictsort %}
{%-   if not (user or {}).get('absent') and name not in allow_users %}{% do allow_users.append(name) %}{% endif %}
{%- endfor %}

common-sshd-dropin-file-managed:
  file.managed:
    - name: {{ sshd.dropin }}
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: True
    - contents: |
        # Managed by Salt (common formula). Sorted first: sshd keeps the first
        # value it reads for a keyword, so these win over later drop-ins.
{%- for key, value in sshd.settings | dictsort %}
        {{ key }} {{ value }}
{%- endfor %}
        AllowTcpForwarding {{ sshd.tcp_forwarding_jump_host if ns.jump else 'no' }}
{%- if sshd.restrict_users %}
        AllowUsers {{ allow_users | join(' ') }}
{%- endif %}
    - check_cmd: {{ sshd.binary }} -t -f

common-sshd-config-validate-cmd-run:
  cmd.run:
    - name: >-
        {{ sshd.binary }} -t &&
        {{ sshd.binary }} -T -C user={{ ssh_user }},host=localhost,addr=127.0.0.1
        | grep -qix 'passwordauthentication no'
    - onchanges:
      - file: common-sshd-dropin-file-managed

common-sshd-service-running:
  service.running:
    - name: {{ sshd.service }}
    - enable: True
    - reload: True
    - watch:
      - cmd: common-sshd-config-validate-cmd-run
