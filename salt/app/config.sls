{#- The app's configuration on the host: env file (0600: APP_KEY, DB_PASSWORD),
    the MySQL CA certificate (public, 0644), the roll-out script and its
    configuration (rollout.json). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ '/_settings.jinja' import app, env, rollout with context %}
{%- for key in ['app_key', 'mysql_app_password', 'mysql_ca_cert'] %}
{%-   if not salt['pillar.get']('secrets:' ~ key) %}
{{-     raise('secrets.' ~ key ~ ': missing; the backend needs it for the app') }}
{%-   endif %}
{%- endfor %}

app-config-dir-file-directory:
  file.directory:
    - name: {{ app.config_dir }}
    - user: root
    - group: root
    - mode: '0750'
    - makedirs: True

app-state-dir-file-directory:
  file.directory:
    - name: {{ app.state_dir }}
    - user: root
    - group: root
    - mode: '0750'
    - makedirs: True

app-log-dir-file-directory:
  file.directory:
    {#- not the file.dirname module: under salt-ssh an execution module without
        an ssh wrapper runs on the host, one more remote call per run #}
    - name: {{ app.log_file.rsplit('/', 1)[0] }}
    - user: root
    - group: root
    - mode: '0750'
    - makedirs: True

{#- The secrets are read by the template itself, so they never appear in the
    state data (show_sls) nor, with show_changes off, in the apply output. #}
app-config-env-file-managed:
  file.managed:
    - name: {{ rollout.env_file }}
    - source: salt://{{ tplroot }}/files/app.env.jinja
    - template: jinja
    - context:
        env: {{ env | json }}
    - show_changes: False
    - user: root
    - group: root
    - mode: '0600'
    - require:
      - file: app-config-dir-file-directory

app-config-mysql-ca-file-managed:
  file.managed:
    - name: {{ app.config_dir }}/mysql-ca.pem
    - contents_pillar: secrets:mysql_ca_cert
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: app-config-dir-file-directory

app-rollout-script-file-managed:
  file.managed:
    - name: {{ app.script }}
    - source: salt://{{ tplroot }}/files/lostops-app-rollout
    - user: root
    - group: root
    - mode: '0755'

app-rollout-config-file-serialize:
  file.serialize:
    - name: {{ app.config_dir }}/rollout.json
    - serializer: json
    - dataset: {{ rollout | json }}
    - user: root
    - group: root
    - mode: '0640'
    - require:
      - file: app-config-dir-file-directory
