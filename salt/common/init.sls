{#- common: the base every host gets first — the role's packages (and nothing
    else), admin users with SSH keys, sshd hardening, time sync. #}
include:
  - .packages
  - .users
  - .sshd
  - .timesync
