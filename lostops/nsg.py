"""Azure NSG numbers shared by the inventory checks and the policy.

Allow rules get priorities from FIRST_PRIORITY in STEP increments, in
inventory order; an explicit deny-all at DENY_ALL_PRIORITY (the highest number
Azure accepts for custom rules) shadows Azure's AllowVnetInBound (65000).
No imports: lostops.inventory (which validates that the flows fit below the
deny-all) and lostops.policy (which assigns them) both import this module.
"""

FIRST_PRIORITY = 100
STEP = 10
DENY_ALL_PRIORITY = 4096
DENY_ALL_NAME = "deny-all-inbound"
