# firewall formula: committed defaults. The allowed flows are not here: they
# come from the inventory (pillar lostops:firewall, built by lostops/policy.py).
firewall:
  log_drops: false
