"""lostops.policy on its own: inventory → ordered rules (no jsii)."""

from __future__ import annotations

import copy

from lostops import policy
from lostops.inventory import load, parse
from tests.unit.test_inventory import EXAMPLE

INV = load("example")


def test_rules_follow_inventory_order_and_resolve_sources():
    rules = policy.host_rules(INV, "database")
    assert [(r.service, r.source, r.ports) for r in rules] == [
        ("mysql", "backend", "3306"),
        ("ssh", "backend", "22"),
        ("node-exporter", "monitoring", "9100"),
        ("cadvisor", "monitoring", "8080"),
        ("mysqld-exporter", "monitoring", "9104"),
    ]
    assert rules[0].cidrs == ("10.20.1.10/32",)
    assert rules[2].cidrs == ("10.20.1.30/32",)


def test_internet_means_anywhere_and_admins_mean_the_admin_networks():
    by_service = {r.service: r for r in policy.host_rules(INV, "backend")}
    assert by_service["https"].from_anywhere
    assert by_service["ssh"].cidrs == ("203.0.113.0/28",)
    assert not by_service["ssh"].from_anywhere


def test_nsg_rules_are_ordered_with_a_final_explicit_deny():
    rules = policy.nsg_rules(INV, "backend")
    prios = [r.priority for r in rules]
    assert prios == sorted(prios) and len(set(prios)) == len(prios)
    assert prios[0] == policy.FIRST_PRIORITY
    last = rules[-1]
    assert (last.name, last.access, last.priority) == ("deny-all-inbound", "Deny", 4096)
    assert (last.protocol, last.source_address_prefixes, last.destination_port_range) == ("*", ("*",), "*")
    assert all(r.access == "Allow" for r in rules[:-1])


def test_nsg_args_use_the_singular_prefix_for_one_source_and_plural_for_many():
    one = policy.nsg_rules(INV, "database")[0].azure_args()
    assert one["source_address_prefix"] == "10.20.1.10"
    assert "source_address_prefixes" not in one
    assert one["destination_address_prefix"] == "10.20.1.20"

    data = copy.deepcopy(EXAMPLE)
    data["ssh"]["admin_sources"] = ["203.0.113.0/28", "198.51.100.0/29"]
    many = {r.name: r.azure_args() for r in policy.nsg_rules(parse(data), "backend")}["allow-ssh-from-admins"]
    assert many["source_address_prefixes"] == ["203.0.113.0/28", "198.51.100.0/29"]
    assert "source_address_prefix" not in many


def test_port_ranges_pass_through_to_nsg_and_firewall():
    data = copy.deepcopy(EXAMPLE)
    data["services"]["passive-ftp"] = {"port": "30000-30010", "protocol": "tcp"}
    data["hosts"]["backend"]["allow"].append({"service": "passive-ftp", "from": "admins", "reason": "legacy transfers"})
    inv = parse(data)
    nsg = {r.name: r for r in policy.nsg_rules(inv, "backend")}["allow-passive-ftp-from-admins"]
    assert nsg.destination_port_range == "30000-30010"
    fw = {r["name"]: r for r in policy.firewall(inv, "backend")}["allow-passive-ftp-from-admins"]
    assert (fw["port_low"], fw["port_high"], fw["ports"]) == (30000, 30010, "30000-30010")


def test_firewall_and_nsg_come_from_the_same_rules():
    for host in INV.hosts:
        fw = policy.firewall(INV, host)
        nsg = policy.nsg_rules(INV, host)[:-1]
        assert [f["name"] for f in fw] == [n.name for n in nsg]
        assert [f["ports"] for f in fw] == [n.destination_port_range for n in nsg]


def test_scrape_jobs_are_derived_from_flows_from_the_monitoring_host():
    jobs = {j["job"]: [t["address"] for t in j["targets"]] for j in policy.scrape_jobs(INV)}
    assert jobs == {
        "node": ["10.20.1.10:9100", "10.20.1.20:9100", "10.20.1.30:9100"],
        "cadvisor": ["10.20.1.10:8080", "10.20.1.20:8080", "10.20.1.30:8080"],
        "traefik": ["10.20.1.10:8082", "10.20.1.30:8082"],
        "mysql": ["10.20.1.20:9104"],
    }


def test_checkov_skips_only_where_needed_with_the_inventory_reason():
    skips = {r.name: policy.checkov_skips(INV, r) for r in policy.nsg_rules(INV, "backend")}
    assert [s["id"] for s in skips["allow-http-from-internet"]] == ["CKV_AZURE_160"]
    assert "ACME" in skips["allow-http-from-internet"][0]["comment"]
    assert all(not v for k, v in skips.items() if k != "allow-http-from-internet")


def _with_salt_master(master: str | None, services: bool = True):
    data = copy.deepcopy(EXAMPLE)
    data["salt"] = {"master": master}
    if services:
        data["services"]["salt-publish"] = {"port": 4505, "protocol": "tcp"}
        data["services"]["salt-return"] = {"port": 4506, "protocol": "tcp"}
    return parse(data)


SALT = ("salt-publish", "salt-return")


def test_without_a_salt_master_no_zeromq_port_is_open_anywhere():
    for inv in (INV, _with_salt_master(None)):
        assert inv.salt.master is None
        for host in inv.hosts:
            assert not [r for r in policy.host_rules(inv, host) if r.service in SALT or r.port_low in (4505, 4506)]


def test_salt_master_opens_zeromq_on_the_master_from_every_other_host_only():
    inv = _with_salt_master("monitoring")
    salt = [r for r in policy.host_rules(inv, "monitoring") if r.service in SALT]
    assert [(r.name, r.ports, r.cidrs) for r in salt] == [
        ("allow-salt-publish-from-backend", "4505", ("10.20.1.10/32",)),
        ("allow-salt-return-from-backend", "4506", ("10.20.1.10/32",)),
        ("allow-salt-publish-from-database", "4505", ("10.20.1.20/32",)),
        ("allow-salt-return-from-database", "4506", ("10.20.1.20/32",)),
    ]
    assert all(r.protocol == "tcp" and not r.from_anywhere and "salt.master" in r.reason for r in salt)
    # appended after the inventory's own flows: their NSG priorities do not move
    assert (
        policy.nsg_rules(inv, "monitoring")[: len(policy.nsg_rules(INV, "monitoring")) - 1]
        == policy.nsg_rules(INV, "monitoring")[:-1]
    )
    for host in ("backend", "database"):
        assert policy.host_rules(inv, host) == policy.host_rules(INV, host)
    # the host firewall gets the same rules as the NSG
    fw = {r["name"]: r for r in policy.firewall(inv, "monitoring")}
    assert fw["allow-salt-return-from-database"]["cidrs"] == ["10.20.1.20/32"]
    assert [n.name for n in policy.nsg_rules(inv, "monitoring")[:-1]] == list(fw)


def test_salt_master_on_a_backend_follows_the_inventory():
    inv = _with_salt_master("backend")
    assert {r.source for r in policy.host_rules(inv, "backend") if r.service in SALT} == {"database", "monitoring"}
    assert not [r for r in policy.host_rules(inv, "monitoring") if r.service in SALT]
