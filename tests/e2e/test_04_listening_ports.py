"""4. Nothing else listens: the exposed TCP ports of every host equal its policy.

Exposed = every TCP listener of the host's network namespace on a non-loopback
address (`ss -Hltnp`: sshd, docker-proxy for published ports, host-network
containers such as node_exporter) plus every port Docker publishes (also
visible when the userland proxy is off). A wildcard bind (0.0.0.0, [::]) is
exposed on every address of the host, so it counts like the private IP.
Expected = the TCP ports of `lostops.policy.host_rules(inventory, host)`:
the same rules that build the NSG and the host firewall ("should not open
other ports", docs). Besides, a listener may only bind the wildcard, the
host's private IP or loopback: a bind to a Docker bridge gateway address would
be reachable from every container and is reported.
"""

from __future__ import annotations

import pytest

from lostops import inventory, policy
from tests.e2e import labenv, probes
from tests.e2e.summary import SUMMARY


def expected_ports(inv, host: str) -> set[int]:
    ports = set()
    for rule in policy.host_rules(inv, host):
        if rule.protocol == "tcp":
            ports.update(range(rule.port_low, rule.port_high + 1))
    return ports


@pytest.mark.summary("listening ports")
def test_listening_ports_equal_policy(lab, converged):
    inv = inventory.load("lab")
    problems, seen = [], {}
    for host in labenv.HOSTS:
        ip = labenv.host_ip(host)
        exp = expected_ports(inv, host)
        found = probes.exposed(probes.listeners(lab, host))
        got = {x.port for x in found}
        seen[host] = sorted(got)
        extra, missing = got - exp, exp - got
        if extra:
            problems.append(
                f"{host}: listens on ports the policy does not allow: "
                + ", ".join(f"{x.addr}:{x.port} ({x.process})" for x in found if x.port in extra)
            )
        if missing:
            problems.append(f"{host}: policy allows {sorted(missing)} but nothing listens there")
        odd = [x for x in found if not x.wildcard and x.addr != ip]
        if odd:
            problems.append(
                f"{host}: listeners bound to neither the private IP {ip}, the wildcard nor loopback: "
                + ", ".join(f"{x.addr}:{x.port} ({x.process})" for x in odd)
            )
    detail = "; ".join(f"{h} {','.join(map(str, p))}" for h, p in seen.items())
    SUMMARY.conclude("listening ports", problems, f"equal to the policy ({detail})")
