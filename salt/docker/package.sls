{%- set tplroot = tpldir.split('/')[0] %}
{%- from 'lib/map.jinja' import mapdata as docker with context %}
{%- set mode = docker.install_mode %}

{%- if mode == 'docker-ce' %}
{%-   set ce = docker.ce %}
{%-   set os = grains['os'] | lower %}
{%-   if not ce.versions %}
{{ raise('docker:ce:versions: no pinned versions (package: version) in pillar') }}
{%-   endif %}

docker-ce-conflicts-pkg-removed:
  pkg.removed:
    - pkgs: {{ ce.conflicts | json }}

docker-ce-prerequisites-pkg-installed:
  pkg.installed:
    - pkgs: {{ ce.prerequisites | json }}

docker-ce-keyring-file-managed:
  file.managed:
    - name: {{ ce.keyring }}
    - source: {{ ce.repo_url }}/{{ os }}/gpg
    - skip_verify: True
    - makedirs: True
    - user: root
    - group: root
    - mode: '0644'
    # Accept the file only if its one primary key has the pinned fingerprint.
    - check_cmd: >-
        sh -c 'test "$(GNUPGHOME=$(mktemp -d) gpg --batch --show-keys --with-colons "$0"
        | grep -A1 "^pub:" | grep "^fpr:" | cut -d: -f10)" = "{{ ce.key_fingerprint }}"'
    - require:
      - pkg: docker-ce-prerequisites-pkg-installed

docker-ce-repo-pkgrepo-managed:
  pkgrepo.managed:
    - name: deb [arch={{ grains['osarch'] }} signed-by={{ ce.keyring }}] {{ ce.repo_url }}/{{ os }} {{ grains['oscodename'] }} {{ ce.channel }}
    - file: {{ ce.list_file }}
    - aptkey: False
    - refresh: True
    - require:
      - file: docker-ce-keyring-file-managed

docker-package-pkg-installed:
  pkg.installed:
    - pkgs:
{%-   for name, version in ce.versions | dictsort %}
      - {{ name }}: {{ version | string | json }}
{%-   endfor %}
    - hold: {{ ce.hold }}
    - require:
      - pkgrepo: docker-ce-repo-pkgrepo-managed
      - pkg: docker-ce-conflicts-pkg-removed

{%- elif mode == 'distro' %}
{%-   set distro = docker.distro %}
{%-   if not distro.compose_package %}
{{ raise('docker:install_mode distro: ' ~ grains['osfinger'] ~ ' has no compose v2 package; use docker-ce') }}
{%-   endif %}

docker-distro-conflicts-pkg-removed:
  pkg.removed:
    - pkgs: {{ distro.conflicts | json }}

docker-package-pkg-installed:
  pkg.installed:
    - pkgs: {{ (distro.packages + [distro.compose_package]) | json }}
    - require:
      - pkg: docker-distro-conflicts-pkg-removed

{%- else %}
{{ raise('docker:install_mode: ' ~ mode ~ ' is not one of docker-ce, distro') }}
{%- endif %}
