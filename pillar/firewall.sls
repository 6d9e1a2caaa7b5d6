# firewall formula: committed production values, only where they differ from
# salt/firewall/parameters/defaults.yaml (every key: salt/firewall/pillar.example).
# The allowed flows are not here: they come from the inventory (pillar
# lostops:firewall, built by lostops/policy.py). Dropped packets are not
# logged in production (firewall:log_drops, default false; the lab logs them).
firewall: {}
