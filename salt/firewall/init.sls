{#- firewall: the host firewall in nftables, one table (inet lostops).
    input: policy drop; only the flows of pillar lostops:firewall (the
    inventory policy, the same rules as the NSG) plus loopback, replies,
    essential ICMP and traffic from Docker bridges.
    forward (priority filter - 1, before Docker's own chains): connections
    that Docker DNAT-ed to a container pass only if their ORIGINAL port and
    source match a pillar rule, so a published port cannot bypass the policy.
    See docs/salt.md "Firewall". #}
include:
  - .package
  - .config
  - .service
