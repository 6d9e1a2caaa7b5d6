{#- MySQL's TLS material. The CA (certificate + key) comes from the secrets
    (lostops mysql-ca); the server key is created on this host and never
    leaves it; the server certificate is issued here with the openssl CLI.

    Why not x509.certificate_managed: Salt 3008 still ships x509_v2, but it
    needs the `cryptography` package on the target, and salt-ssh's thin does
    not carry it (compiled, tied to the target's Python). The openssl CLI is
    on every Debian/Ubuntu host; issue-server-cert's `check` makes it
    idempotent (and renews ahead of expiry). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as mysql with context %}
{%- set lostops = salt['pillar.get']('lostops') %}
{%- set host = lostops.host %}
{%- set ca_dir = mysql.config_dir ~ '/ca' %}
{%- set tls_dir = mysql.config_dir ~ '/tls' %}
{%- set genpkey = {
      'ec': '-algorithm EC -pkeyopt ec_paramgen_curve:P-256',
      'rsa': '-algorithm RSA -pkeyopt rsa_keygen_bits:3072',
    } %}
{%- if mysql.tls.key_type not in genpkey %}
{{ raise('mysql:tls:key_type: ' ~ mysql.tls.key_type ~ ' (expected ec or rsa)') }}
{%- endif %}
{%- for key in ['mysql_ca_cert', 'mysql_ca_key'] %}
{%-   if not salt['pillar.get']('secrets:' ~ key, '') %}
{{ raise('secrets:' ~ key ~ ': missing on ' ~ lostops.minion ~ ' (lostops mysql-ca creates it)') }}
{%-   endif %}
{%- endfor %}
{%- set dns = [lostops.minion] %}
{%- if grains.get('host') and grains.host not in dns %}{% do dns.append(grains.host) %}{% endif %}
{%- for name in host.dns + [mysql.internal_network.alias] %}
{%-   if name not in dns %}{% do dns.append(name) %}{% endif %}
{%- endfor %}
{%- set ips = [host.private_ip] %}
{%- for san in mysql.tls.extra_sans %}
{%-   if san.startswith('IP:') %}{% do ips.append(san[3:]) %}
{%-   elif san.startswith('DNS:') %}{% do dns.append(san[4:]) %}
{%-   else %}{{ raise('mysql:tls:extra_sans: ' ~ san ~ ' (expected IP:<address> or DNS:<name>)') }}
{%-   endif %}
{%- endfor %}

include:
  - .config

mysql-tls-ca-dir-file-directory:
  file.directory:
    - name: {{ ca_dir }}
    - user: root
    - group: root
    - mode: '0700'
    - require:
      - file: mysql-config-dir-file-directory

{#- Mounted read-only into the container at {{ mysql.tls.container_dir }}. #}
mysql-tls-dir-file-directory:
  file.directory:
    - name: {{ tls_dir }}
    - user: root
    - group: {{ mysql.gid }}
    - mode: '0750'
    - require:
      - file: mysql-config-dir-file-directory

mysql-tls-ca-cert-file-managed:
  file.managed:
    - name: {{ tls_dir }}/ca.pem
    - contents_pillar: secrets:mysql_ca_cert
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: mysql-tls-dir-file-directory

{#- Not mounted into any container. #}
mysql-tls-ca-key-file-managed:
  file.managed:
    - name: {{ ca_dir }}/ca-key.pem
    - contents_pillar: secrets:mysql_ca_key
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: False
    - require:
      - file: mysql-tls-ca-dir-file-directory

mysql-tls-request-file-managed:
  file.managed:
    - name: {{ ca_dir }}/server.ext
    - source: salt://{{ tplroot }}/files/server.ext.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - context:
        cn: {{ lostops.minion }}
        key_type: {{ mysql.tls.key_type }}
        days_valid: {{ mysql.tls.days_valid }}
        ips: {{ ips | json }}
        dns: {{ dns | json }}
    - require:
      - file: mysql-tls-ca-dir-file-directory

mysql-tls-issue-script-file-managed:
  file.managed:
    - name: {{ ca_dir }}/issue-server-cert
    - source: salt://{{ tplroot }}/files/issue-server-cert.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0700'
    - context:
        ca_dir: {{ ca_dir }}
        ca_cert: {{ tls_dir }}/ca.pem
        ca_key: {{ ca_dir }}/ca-key.pem
        key: {{ tls_dir }}/server-key.pem
        cert: {{ tls_dir }}/server-cert.pem
        ext: {{ ca_dir }}/server.ext
        cn: {{ lostops.minion }}
        gid: {{ mysql.gid }}
        days_valid: {{ mysql.tls.days_valid }}
        renew_days_before: {{ mysql.tls.renew_days_before }}
        genpkey_args: {{ genpkey[mysql.tls.key_type] }}
    - require:
      - file: mysql-tls-ca-dir-file-directory

{#- Runs when the certificate is missing, expires within renew_days_before,
    was not issued by the current CA or for the current request (SANs,
    validity, key type). A change recreates the mysql container. #}
mysql-tls-server-cert-issue-cmd-run:
  cmd.run:
    - name: {{ ca_dir }}/issue-server-cert issue
    - unless: {{ ca_dir }}/issue-server-cert check
    - require:
      - pkg: mysql-packages-pkg-installed
      - file: mysql-tls-ca-cert-file-managed
      - file: mysql-tls-ca-key-file-managed
      - file: mysql-tls-request-file-managed
      - file: mysql-tls-issue-script-file-managed
      - file: mysql-tls-dir-file-directory

{#- mysqld (uid 999) reads the key: root:999 0640. #}
mysql-tls-server-key-file-managed:
  file.managed:
    - name: {{ tls_dir }}/server-key.pem
    - replace: False
    - user: root
    - group: {{ mysql.gid }}
    - mode: '0640'
    - require:
      - cmd: mysql-tls-server-cert-issue-cmd-run

mysql-tls-server-cert-file-managed:
  file.managed:
    - name: {{ tls_dir }}/server-cert.pem
    - replace: False
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - cmd: mysql-tls-server-cert-issue-cmd-run
