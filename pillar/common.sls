# common formula: committed, non-secret defaults (every key: salt/common/pillar.example).
common:
  # Admin users and their SSH public keys. Public keys are not secret; add
  # people here, remove them with `absent: true`.
  #   alice:
  #     fullname: Alice Example
  #     ssh_keys:
  #       - ssh-ed25519 AAAA... alice@laptop
  users: {}
