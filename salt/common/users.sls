{#- Admin users and their SSH keys (pillar common:users), the admin group and
    its sudoers drop-in. The inventory's ssh user (lostops:ssh_user) is the
    account salt-ssh connects as: it is never created, changed or removed
    here; it only joins the admin group (so its passwordless sudo does not
    depend on cloud-init's sudoers file) and gets the keys listed for it. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as common with context %}
{%- set ssh_user = salt['pillar.get']('lostops:ssh_user') %}

common-users-admin-group-present:
  group.present:
    - name: {{ common.admin_group }}
    - system: True
    - addusers:
      - {{ ssh_user }}

common-users-sudoers-file-managed:
  file.managed:
    - name: {{ common.sudoers_file }}
    - user: root
    - group: root
    - mode: '0440'
    - contents: |
        # Managed by Salt (common formula).
        %{{ common.admin_group }} ALL=(ALL:ALL) {{ 'NOPASSWD: ' if common.sudo_nopasswd else '' }}ALL
    - check_cmd: /usr/sbin/visudo -c -q -f
    - require:
      - group: common-users-admin-group-present

{%- for name, user in common.users | dictsort %}
{%-   set user = user or {} %}
{%-   if name == ssh_user and user.get('absent') %}
{{ raise('common:users:' ~ name ~ ': is the ssh user salt-ssh connects as; it cannot be absent') }}
{%-   endif %}
{%-   if user.get('absent') %}

common-users-{{ name }}-user-absent:
  user.absent:
    - name: {{ name }}
{%-   else %}
{%-     if name != ssh_user %}

common-users-{{ name }}-user-present:
  user.present:
    - name: {{ name }}
    - fullname: {{ user.get('fullname', name) | json }}
    - shell: {{ user.get('shell', '/bin/bash') }}
    - createhome: True
    # Key-only account: '*' is no valid password but, unlike useradd's '!',
    # does not mark the account locked (sshd with UsePAM no refuses those).
    - password: '*'
    - groups: {{ ([common.admin_group] if user.get('sudo', True) else []) | json }}
    - remove_groups: True
    - require:
      - group: common-users-admin-group-present
{%-     endif %}
{%-     if user.get('ssh_keys') %}

common-users-{{ name }}-ssh-auth-present:
  ssh_auth.present:
    - user: {{ name }}
    - names: {{ user.ssh_keys | json }}
{%-       if name != ssh_user %}
    - require:
      - user: common-users-{{ name }}-user-present
{%-       endif %}
{%-     endif %}
{%-     if user.get('ssh_keys_absent') %}

common-users-{{ name }}-ssh-auth-absent:
  ssh_auth.absent:
    - user: {{ name }}
    - names: {{ user.ssh_keys_absent | json }}
{%-     endif %}
{%-   endif %}
{%- endfor %}
