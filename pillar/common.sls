# common formula: committed, non-secret production values, only where they
# differ from salt/common/parameters/defaults.yaml (every key:
# salt/common/pillar.example).
# Admin users and their SSH public keys go to common:users. Public keys are
# not secret; add people here, remove them with `absent: true`:
#   users:
#     alice:
#       fullname: Alice Example
#       ssh_keys:
#         - ssh-ed25519 AAAA... alice@laptop
common: {}
