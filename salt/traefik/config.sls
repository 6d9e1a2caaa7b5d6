{#- Traefik's static configuration (traefik.yml, needs a restart), the file
    provider's dynamic configuration (dynamic/*.yml, watched: no restart) and
    the ACME storage (acme.json, 0600, never overwritten by Salt). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as traefik with context %}
{%- set lostops = salt['pillar.get']('lostops') %}
{%- set services = lostops.services %}
{%- set acme = traefik.acme %}
{%- set dashboard = traefik.dashboard %}
{%- set resolver = acme.resolver %}

{#- ---- static configuration ---- #}
{%- set websecure_http = {'middlewares': ['security-headers@file'], 'tls': {}} %}
{%- if acme.enabled %}
{%-   do websecure_http.tls.update({'certResolver': resolver}) %}
{%- endif %}
{%- set static = {
      'global': {'checkNewVersion': False, 'sendAnonymousUsage': False},
      'log': {'level': traefik.log_level, 'format': 'json'},
      'accessLog': {'format': 'json'},
      'entryPoints': {
        'web': {
          'address': ':' ~ services.http.port,
          'http': {'redirections': {'entryPoint': {
            'to': 'websecure', 'scheme': 'https', 'permanent': True,
          } } },
        },
        'websecure': {
          'address': ':' ~ services.https.port,
          'http': websecure_http,
        },
        'metrics': {'address': ':' ~ services['traefik-metrics'].port},
      },
      'providers': {
        'docker': {
          'endpoint': 'tcp://docker-socket-proxy:' ~ traefik.socket_proxy.port,
          'exposedByDefault': False,
          'network': traefik.network,
          'watch': True,
        },
        'file': {'directory': '/etc/traefik/dynamic', 'watch': True},
      },
      'metrics': {'prometheus': {
        'entryPoint': 'metrics',
        'addEntryPointsLabels': True,
        'addRoutersLabels': True,
        'addServicesLabels': True,
      }},
      'ping': {'entryPoint': 'metrics'},
    } %}
{%- if acme.enabled %}
{%-   do static.update({'certificatesResolvers': {resolver: {'acme': {
        'email': acme.email or ('hostmaster@' ~ lostops.zone),
        'storage': '/acme/acme.json',
        'caServer': acme.ca_servers.staging if acme.staging else acme.ca_servers.production,
        'httpChallenge': {'entryPoint': 'web'},
      }}}}) %}
{%- endif %}
{%- if dashboard.enabled %}
{%-   if not dashboard.host %}
{{-     raise('traefik:dashboard:host: required when traefik:dashboard:enabled is true (the dashboard gets its own host rule)') }}
{%-   endif %}
{%-   if not salt['pillar.get']('secrets:traefik_dashboard_auth') %}
{{-     raise('secrets.traefik_dashboard_auth: required when traefik:dashboard:enabled is true (htpasswd -nbB admin <password>)') }}
{%-   endif %}
{#-   The dashboard API only, served through a router with basicAuth; never api.insecure. #}
{%-   do static.update({'api': {'dashboard': True} }) %}
{%- endif %}

{#- ---- dynamic configuration (file provider) ---- #}
{%- set tls_options = {'tls': {'options': {'default': {
      'minVersion': traefik.tls.min_version,
      'sniStrict': traefik.tls.sni_strict,
      'cipherSuites': traefik.tls.cipher_suites,
    }}}} %}
{#- An explicit curvePreferences replaces Go's default list (Go 1.24:
    X25519MLKEM768, X25519, P-256, P-384, P-521): leave it out unless set. #}
{%- if traefik.tls.curve_preferences %}
{%-   do tls_options.tls.options.default.update({'curvePreferences': traefik.tls.curve_preferences}) %}
{%- endif %}
{%- set middlewares = {'http': {'middlewares': {'security-headers': {'headers': {
      'stsSeconds': traefik.headers.sts_seconds,
      'stsIncludeSubdomains': traefik.headers.sts_include_subdomains,
      'stsPreload': traefik.headers.sts_preload,
      'contentTypeNosniff': True,
      'frameDeny': True,
      'referrerPolicy': traefik.headers.referrer_policy,
    }}}}} %}

traefik-config-dir-file-directory:
  file.directory:
    - name: {{ traefik.config_dir }}
    - user: root
    - group: root
    - mode: '0750'
    - makedirs: True

traefik-config-socket-proxy-file-managed:
  file.managed:
    - name: {{ traefik.config_dir }}/docker-socket-proxy.cfg
    - source: salt://lib/docker-socket-proxy.cfg.jinja
    - template: jinja
    - context:
        client: Traefik's docker provider
        port: {{ traefik.socket_proxy.port }}
        allow: {{ traefik.socket_proxy.allow | json }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: traefik-config-dir-file-directory

traefik-config-dynamic-dir-file-directory:
  file.directory:
    - name: {{ traefik.config_dir }}/dynamic
    - user: root
    - group: root
    - mode: '0750'
    - require:
      - file: traefik-config-dir-file-directory

traefik-acme-dir-file-directory:
  file.directory:
    - name: {{ traefik.data_dir }}/acme
    - user: root
    - group: root
    - mode: '0700'
    - makedirs: True

{#- Created empty once with 0600 (Traefik refuses a wider mode); its content
    (account key, certificates) is Traefik's and is never replaced. #}
traefik-acme-storage-file-managed:
  file.managed:
    - name: {{ traefik.data_dir }}/acme/acme.json
    - replace: False
    - contents: ''
    - user: root
    - group: root
    - mode: '0600'
    - require:
      - file: traefik-acme-dir-file-directory

traefik-config-static-file-serialize:
  file.serialize:
    - name: {{ traefik.config_dir }}/traefik.yml
    - serializer: yaml
    - dataset: {{ static | json }}
    - user: root
    - group: root
    - mode: '0640'
    - require:
      - file: traefik-config-dir-file-directory

traefik-config-tls-file-serialize:
  file.serialize:
    - name: {{ traefik.config_dir }}/dynamic/tls.yml
    - serializer: yaml
    - dataset: {{ tls_options | json }}
    - user: root
    - group: root
    - mode: '0640'
    - require:
      - file: traefik-config-dynamic-dir-file-directory

traefik-config-middlewares-file-serialize:
  file.serialize:
    - name: {{ traefik.config_dir }}/dynamic/middlewares.yml
    - serializer: yaml
    - dataset: {{ middlewares | json }}
    - user: root
    - group: root
    - mode: '0640'
    - require:
      - file: traefik-config-dynamic-dir-file-directory

{%- if dashboard.enabled %}
{%-   set dashboard_router = {'http': {
        'routers': {'dashboard': {
          'rule': 'Host(`' ~ dashboard.host ~ '`)',
          'entryPoints': ['websecure'],
          'service': 'api@internal',
          'middlewares': ['dashboard-auth'],
          'tls': ({'certResolver': resolver} if acme.enabled else {}),
        }},
        'middlewares': {'dashboard-auth': {'basicAuth': {
          'usersFile': '/etc/traefik/dashboard.htpasswd',
        } } },
      }} %}

traefik-config-dashboard-auth-file-managed:
  file.managed:
    - name: {{ traefik.config_dir }}/dashboard.htpasswd
    - contents_pillar: secrets:traefik_dashboard_auth
    - show_changes: False
    - user: root
    - group: root
    - mode: '0600'
    - require:
      - file: traefik-config-dir-file-directory

traefik-config-dashboard-file-serialize:
  file.serialize:
    - name: {{ traefik.config_dir }}/dynamic/dashboard.yml
    - serializer: yaml
    - dataset: {{ dashboard_router | json }}
    - user: root
    - group: root
    - mode: '0640'
    - require:
      - file: traefik-config-dynamic-dir-file-directory
      - file: traefik-config-dashboard-auth-file-managed
{%- else %}

traefik-config-dashboard-auth-file-absent:
  file.absent:
    - name: {{ traefik.config_dir }}/dashboard.htpasswd

traefik-config-dashboard-file-absent:
  file.absent:
    - name: {{ traefik.config_dir }}/dynamic/dashboard.yml
{%- endif %}
