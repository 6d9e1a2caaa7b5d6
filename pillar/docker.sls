# docker formula: committed production values, only where they differ from
# salt/docker/parameters/defaults.yaml (every key: salt/docker/pillar.example).
# Production installs from Docker's apt repository (install_mode docker-ce,
# the default).
docker:
  ce:
    # Pinned versions (apt version patterns, held). Update deliberately:
    #   apt-cache madison docker-ce docker-ce-cli containerd.io docker-compose-plugin
    versions:
      docker-ce: '5:28.5.1-1~*'
      docker-ce-cli: '5:28.5.1-1~*'
      containerd.io: '1.7.28-1*'
      docker-compose-plugin: '2.40.0-1~*'
