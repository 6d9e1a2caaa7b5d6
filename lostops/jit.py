"""Just-in-time SSH for a runner: open, close, check for leftovers (`lostops jit`).

    lostops jit runner-ip                  print this machine's public IPv4
    lostops jit open  --ip A.B.C.D [--ttl 30m]
    lostops jit close --ip A.B.C.D
    lostops jit check                      leftovers? (Markdown, exit 1 if any)
    lostops jit serving-version            app version the backend serves

The runner's address is allowed in two places, and neither is the committed
configuration (no cdktf deploy, no pillar):

1. **NSG** (channel `azure`): one rule per run and per NSG of a host that
   salt-ssh reaches directly (no `ssh_via`), named `lostops-jit-ssh-<run>`
   (<run> = GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT, or LOSTOPS_JIT_RUN), at the
   highest free priority of 4001-4095 that is not a multiple of 10 (just above
   the deny-all at 4096, outside the policy's 100 + 10*n lattice), TCP to the
   inventory's ssh port from `<ip>/32`: `az network nsg rule
   create|delete|list`. Two runs that overlap (a deploy called from the app
   repository and the drift check here: concurrency groups hold per
   repository only) each add and remove their own rule, never the other's. The NSG rules of the stack are
   separate `azurerm_network_security_rule` resources, so Terraform neither
   sees nor removes this one; the drift check looks for it instead.
2. **Host firewall**: an element of the nftables set `inet lostops jit_ssh`
   (salt/firewall), added WITH A TIMEOUT, so it expires by itself even if the
   job dies. It is sent out of band, without SSH: Azure's
   `az vm run-command invoke --command-id RunShellScript` (channel `azure`),
   or any command prefix given in LOSTOPS_JIT_EXEC (channel `exec`, the lab:
   e.g. `.venv/bin/python -m tests.lab.labctl exec {host} --`; the host script is
   appended as one argument, or replaces `{script}`). Channel `exec` skips
   the NSG step (there is none in the lab) and says so.

`check` lists any NSG rule `lostops-jit-ssh*` and any element in the sets; the
drift check runs it before it opens anything (what an earlier run left) and
after its own close, and fails on either. `serving-version` reads the backend's
/var/lib/lostops/app/deployed-version over the same channel (no SSH, no
secrets), for `lostops release guard`.

Environment: LOSTOPS_INVENTORY (as everywhere), LOSTOPS_JIT_CHANNEL
(azure|exec, default azure), LOSTOPS_JIT_EXEC, LOSTOPS_JIT_IP (default for
--ip), LOSTOPS_JIT_TTL (default 30m, at most 3h: the element must expire
within hours, not days), LOSTOPS_JIT_RUN, LOSTOPS_JIT_CONFLICT_WAIT (seconds a
host call waits while Azure reports an earlier run-command still running,
default 900). --dry-run prints the commands instead of running them. One
summary line per step on stdout; exit 0 done, 1 a step failed (or leftovers,
for check), 2 bad usage. `close` tries every step on every host whatever fails
and says what is left: exit 4 + 1 (an NSG rule left: it never expires) + 2 (a
set element left: it expires by its timeout), one line per failed step.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from dataclasses import dataclass

from lostops import envcmd

RULE_PREFIX = "lostops-jit-ssh"
RULE_PRIORITY = 4095  # the highest; a run takes the highest free one of PRIORITIES
PRIORITIES = [p for p in range(4095, 4000, -1) if p % 10]
TABLE = "inet lostops"
SET = "jit_ssh"
OK_MARK = "LOSTOPS_JIT_OK"
DEPLOYED_VERSION_FILE = "/var/lib/lostops/app/deployed-version"
TTL = re.compile(r"([1-9][0-9]{0,4})([smh])")
TTL_MAX_SECONDS = 3 * 3600
RUN_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}")
EXIT_LEFT = 4
LEFT_NSG = 1
LEFT_ELEMENT = 2
IP_SERVICES = ("https://api.ipify.org", "https://ifconfig.me/ip")


class JitError(Exception):
    """Bad input or a failed step; the message is one line."""


@dataclass(frozen=True)
class Target:
    """One host the runner reaches directly, and where its NSG and VM live."""

    host: str
    vm: str
    vm_resource_group: str
    nsg: str
    nsg_resource_group: str
    ssh_port: int
    role: str


def parse_ip(raw: str | None) -> str:
    if not raw:
        raise JitError("no runner address: pass --ip or set LOSTOPS_JIT_IP")
    try:
        ip = ipaddress.IPv4Address(raw.strip().removesuffix("/32"))
    except ValueError:
        raise JitError(f"{raw!r} is not an IPv4 address") from None
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
        raise JitError(f"{raw!r} cannot be a runner's address")
    return str(ip)


def parse_ttl(raw: str) -> str:
    """`<n>s|m|h`, at most 3h: an element left by a dead job must expire within hours."""
    m = TTL.fullmatch(raw or "")
    if not m:
        raise JitError(f"timeout {str(raw)[:20]!r}: expected a number and s, m or h, e.g. 30m")
    seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
    if seconds > TTL_MAX_SECONDS:
        raise JitError(f"timeout {raw}: at most 3h (an element left behind must expire within hours)")
    return raw


def run_tag(env=os.environ) -> str:
    """This run's tag in the NSG rule name: GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT, LOSTOPS_JIT_RUN or `local`."""
    if env.get("LOSTOPS_JIT_RUN"):
        tag = env["LOSTOPS_JIT_RUN"]
    elif env.get("GITHUB_RUN_ID"):
        tag = f"{env['GITHUB_RUN_ID']}-{env.get('GITHUB_RUN_ATTEMPT') or '1'}"
    else:
        tag = "local"
    if not RUN_TAG.fullmatch(tag):
        raise JitError(f"run tag {tag[:40]!r} (LOSTOPS_JIT_RUN or GITHUB_RUN_ID): expected [A-Za-z0-9-], 40 at most")
    return tag


def rule_name(tag: str) -> str:
    return f"{RULE_PREFIX}-{tag}"


def targets(inv) -> list[Target]:
    """Hosts salt-ssh connects to directly (the others go through their ssh_via)."""
    port = inv.services["ssh"].port
    out = []
    for name, host in inv.hosts.items():
        if host.ssh_via is not None:
            continue
        out.append(
            Target(
                host=name,
                vm=host.vm.name,
                vm_resource_group=host.vm.resource_group,
                # stacks/network.py: one NSG per host, "<vm name>-nsg", in azure.resource_group
                nsg=f"{host.vm.name}-nsg",
                nsg_resource_group=inv.azure.resource_group,
                ssh_port=port,
                role=host.role,
            )
        )
    return out


def host_script(action: str, ip: str | None, ttl: str = "30m", port: int = 22) -> str:
    """The shell script a host runs for `action` (as root, out of band)."""
    if action == "open":
        return (
            "set -e; "
            f"if ! nft list set {TABLE} {SET} >/dev/null 2>&1; then "
            # The host's firewall predates the jit_ssh set (first release after
            # it was added): create it and its rule now; the next apply of the
            # firewall state replaces them with the template's own.
            f"nft list table {TABLE} >/dev/null; "
            f"nft add set {TABLE} {SET} '{{ type ipv4_addr; flags timeout; }}'; "
            f"nft insert rule {TABLE} input ip saddr @{SET} tcp dport {port} accept; "
            "fi; "
            f"nft add element {TABLE} {SET} '{{ {ip} timeout {ttl} }}'; "
            f"echo {OK_MARK}"
        )
    if action == "close":
        return f"nft delete element {TABLE} {SET} '{{ {ip} }}' 2>/dev/null || true; echo {OK_MARK}"
    if action == "check":
        return f"nft -j list set {TABLE} {SET} 2>/dev/null || echo '{{\"nftables\": []}}'; echo {OK_MARK}"
    if action == "serving-version":
        return f"cat {DEPLOYED_VERSION_FILE} 2>/dev/null || true; echo {OK_MARK}"
    raise JitError(f"unknown action {action!r}")


def parse_set_elements(stdout: str) -> list[str]:
    """Addresses in `nft -j list set` output (elements with or without timeout)."""
    text = stdout.replace(OK_MARK, "").strip()
    if not text:
        return []
    data = json.loads(text)
    out = []
    for item in data.get("nftables", []):
        for elem in (item.get("set") or {}).get("elem", []):
            if isinstance(elem, dict) and "elem" in elem:
                elem = elem["elem"]["val"]
            out.append(str(elem))
    return sorted(out)


def parse_run_command(output: str) -> tuple[str, str]:
    """stdout and stderr of the script from `az vm run-command invoke` JSON."""
    data = json.loads(output)
    message = "\n".join(v.get("message", "") for v in data.get("value", []))
    m = re.search(r"\[stdout\]\n?(.*?)\n?\[stderr\]\n?(.*)\Z", message, re.S)
    if not m:
        return message, ""
    return m.group(1), m.group(2)


def nsg_commands(
    action: str, t: Target, ip: str | None, name: str | None = None, priority: int = RULE_PRIORITY
) -> list[str]:
    base = ["az", "network", "nsg", "rule"]
    where = ["--resource-group", t.nsg_resource_group, "--nsg-name", t.nsg]
    name = name or rule_name("local")
    if action == "open":
        return [
            *base,
            "create",
            *where,
            "--name",
            name,
            "--priority",
            str(priority),
            "--direction",
            "Inbound",
            "--access",
            "Allow",
            "--protocol",
            "Tcp",
            "--source-address-prefixes",
            f"{ip}/32",
            "--source-port-ranges",
            "*",
            "--destination-address-prefixes",
            "*",
            "--destination-port-ranges",
            str(t.ssh_port),
            "--description",
            "just-in-time SSH for a CI runner (lostops jit); removed by its close step",
            "--only-show-errors",
            "--output",
            "none",
        ]
    if action == "close":
        return [*base, "delete", *where, "--name", name, "--only-show-errors", "--output", "none"]
    if action == "list":
        # every rule's name and priority: a new rule takes a free priority
        return [*base, "list", *where, "--query", "[].{name:name,priority:priority}", "--output", "json"]
    if action == "check":
        return [
            *base,
            "list",
            *where,
            "--query",
            f"[?starts_with(name, '{RULE_PREFIX}')].{{name:name,source:sourceAddressPrefix}}",
            "--output",
            "json",
            "--only-show-errors",
        ]
    raise JitError(f"unknown action {action!r}")


def host_command(channel: str, t: Target, script: str) -> list[str]:
    if channel == "azure":
        return [
            "az",
            "vm",
            "run-command",
            "invoke",
            "--resource-group",
            t.vm_resource_group,
            "--name",
            t.vm,
            "--command-id",
            "RunShellScript",
            "--scripts",
            script,
            "--only-show-errors",
            "--output",
            "json",
        ]
    template = os.environ.get("LOSTOPS_JIT_EXEC", "")
    if not template:
        raise JitError(
            "channel exec needs LOSTOPS_JIT_EXEC, e.g. '.venv/bin/python -m tests.lab.labctl exec {host} --'"
        )
    try:
        parts = envcmd.split("LOSTOPS_JIT_EXEC", template)
    except ValueError as exc:
        raise JitError(str(exc)) from None
    argv = [part.replace("{host}", t.host) for part in parts]
    if "{script}" in argv:
        return [script if part == "{script}" else part for part in argv]
    return [*argv, script]


CONFLICT = re.compile(r"\bConflict\b|another operation|execution is in progress", re.I)


class Runner:
    def __init__(self, channel: str, dry_run: bool, sleep=None, conflict_wait: float | None = None):
        import time

        self.channel = channel
        self.dry_run = dry_run
        self.sleep = sleep or time.sleep
        if conflict_wait is None:
            raw = os.environ.get("LOSTOPS_JIT_CONFLICT_WAIT", "900")
            if not raw.isascii() or not raw.isdigit() or int(raw) > 3600:
                raise JitError(f"LOSTOPS_JIT_CONFLICT_WAIT {raw[:20]!r}: expected seconds, 0-3600")
            conflict_wait = int(raw)
        self.conflict_wait = conflict_wait

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        if self.dry_run:
            print("would run: " + shlex.join(argv))
            return subprocess.CompletedProcess(argv, 0, "", "")
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        except OSError as exc:
            hint = "install the Azure CLI (az), or use --channel exec" if argv[0] == "az" else "check LOSTOPS_JIT_EXEC"
            what = "not found" if isinstance(exc, FileNotFoundError) else f"cannot run ({exc.strerror})"
            raise JitError(f"{argv[0]}: {what} ({hint})") from None
        except subprocess.TimeoutExpired:
            raise JitError(f"{argv[0]}: no answer within 600 s") from None

    def on_host(self, t: Target, script: str) -> str:
        """Run `script` on the host; its stdout, or JitError.

        `az vm run-command invoke` runs one script at a time per VM and cannot
        be cancelled: after a cancelled job the next call fails with Conflict
        until the earlier script ends. Such a call is retried every 30 s for
        up to conflict_wait seconds."""
        waited = 0.0
        while True:
            proc = self.run(host_command(self.channel, t, script))
            if self.dry_run:
                return OK_MARK
            if (
                proc.returncode != 0
                and self.channel == "azure"
                and CONFLICT.search(proc.stderr or "")
                and waited < self.conflict_wait
            ):
                print(f"jit: {t.host}: run-command busy (Conflict), retrying in 30 s", file=sys.stderr)
                self.sleep(30)
                waited += 30
                continue
            break
        if proc.returncode != 0:
            raise JitError(
                f"{t.host}: {self.channel} channel failed (exit {proc.returncode}): {last_line(proc.stderr)}"
            )
        stdout, stderr = parse_run_command(proc.stdout) if self.channel == "azure" else (proc.stdout, proc.stderr)
        if OK_MARK not in stdout:
            raise JitError(f"{t.host}: host script failed: {last_line(stderr) or last_line(stdout) or 'no output'}")
        return stdout.replace(OK_MARK, "").strip()


def last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def runner_ip() -> str:
    if os.environ.get("LOSTOPS_JIT_IP"):
        return parse_ip(os.environ["LOSTOPS_JIT_IP"])
    errors = []
    for url in IP_SERVICES:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return parse_ip(resp.read().decode().strip())
        except (OSError, JitError) as exc:
            errors.append(f"{url}: {exc}")
    raise JitError("could not find this runner's public IPv4 address: " + "; ".join(errors))


def free_priority(listing: str, taken_also: set[int] = frozenset()) -> int:
    """The highest of PRIORITIES that no rule in `az network nsg rule list` JSON holds."""
    try:
        rules = json.loads(listing or "[]")
    except json.JSONDecodeError:
        raise JitError("NSG rule list: az printed no JSON") from None
    taken = {int(r["priority"]) for r in rules if isinstance(r, dict) and str(r.get("priority", "")).isdigit()}
    taken |= set(taken_also)
    for p in PRIORITIES:
        if p not in taken:
            return p
    raise JitError(f"no free priority left in 4001-4095 ({len(taken)} taken): remove old {RULE_PREFIX}-* rules")


def open_nsg(r: Runner, t: Target, ip: str, name: str) -> int:
    """Create this run's rule at a free priority; a concurrent run may take the same one: retry."""
    tried: set[int] = set()
    for _ in range(4):
        listing = r.run(nsg_commands("list", t, None, name))
        if listing.returncode != 0:
            raise JitError(f"{t.host}: NSG rule list failed: {last_line(listing.stderr)}")
        priority = free_priority(listing.stdout, tried) if not r.dry_run else RULE_PRIORITY
        proc = r.run(nsg_commands("open", t, ip, name, priority))
        if proc.returncode == 0:
            return priority
        if not CONFLICT.search(proc.stderr or "") and "priority" not in (proc.stderr or "").lower():
            raise JitError(f"{t.host}: NSG rule create failed: {last_line(proc.stderr)}")
        tried.add(priority)
    raise JitError(f"{t.host}: NSG rule create failed 4 times on a priority conflict")


def do_open(r: Runner, ts: list[Target], ip: str, ttl: str, tag: str) -> int:
    name = rule_name(tag)
    for t in ts:
        if r.channel == "azure":
            priority = open_nsg(r, t, ip, name)
            print(f"jit open: {t.nsg} rule {name} allows {ip}/32 to port {t.ssh_port} (priority {priority})")
        else:
            print(f"jit open: {t.host}: NSG step skipped (channel {r.channel}: no NSG)")
        r.on_host(t, host_script("open", ip, ttl, t.ssh_port))
        print(f"jit open: {t.host} firewall set {SET} has {ip} for {ttl}")
    return 0


def do_close(r: Runner, ts: list[Target], ip: str, tag: str) -> int:
    """Every step on every host, whatever fails; the exit code says what is left."""
    name = rule_name(tag)
    left = 0
    failures = []
    for t in ts:
        if r.channel == "azure":
            try:
                proc = r.run(nsg_commands("close", t, None, name))
                if proc.returncode != 0:
                    raise JitError(f"NSG rule {name} delete failed: {last_line(proc.stderr)}")
                print(f"jit close: {t.nsg} rule {name} removed")
            except JitError as exc:
                failures.append(f"{t.host}: NSG {t.nsg}: {exc} (the rule stays: it never expires)")
                left |= LEFT_NSG
        try:
            r.on_host(t, host_script("close", ip))
            print(f"jit close: {t.host} firewall set {SET} no longer has {ip}")
        except JitError as exc:
            failures.append(f"{t.host}: firewall set {SET}: {exc} (the element expires by its timeout)")
            left |= LEFT_ELEMENT
    for line in failures:
        print(f"jit close: FAILED: {line}", file=sys.stderr)
    if left:
        what = " and ".join(w for bit, w in ((LEFT_NSG, "NSG rule(s)"), (LEFT_ELEMENT, "set element(s)")) if left & bit)
        print(f"jit close: left open: {what} (exit {EXIT_LEFT + left})", file=sys.stderr)
        return EXIT_LEFT + left
    return 0


def parse_nsg_check(stdout: str) -> list[tuple[str, str]]:
    """(name, source) of the just-in-time rules in `nsg rule list` JSON."""
    try:
        data = json.loads(stdout or "[]")
    except json.JSONDecodeError:
        raise JitError("NSG rule list: az printed no JSON") from None
    return [(str(r.get("name", "")), str(r.get("source", ""))) for r in data if isinstance(r, dict)]


def do_check(r: Runner, ts: list[Target]) -> int:
    leftovers, errors = [], []
    for t in ts:
        if r.channel == "azure":
            try:
                proc = r.run(nsg_commands("check", t, None))
                if proc.returncode != 0:
                    raise JitError(f"{t.host}: NSG rule list failed: {last_line(proc.stderr)}")
                for name, prefix in parse_nsg_check(proc.stdout):
                    leftovers.append(f"NSG `{t.nsg}` still has rule `{name}` (source `{prefix}`)")
            except JitError as exc:
                errors.append(str(exc))
        try:
            for addr in parse_set_elements(r.on_host(t, host_script("check", None))):
                leftovers.append(f"host `{t.host}`: nftables set `{SET}` still has `{addr}`")
        except (JitError, ValueError) as exc:
            errors.append(f"{t.host}: {str(exc)[:200]}")
    print("## Just-in-time SSH leftovers\n")
    for line in leftovers:
        print(f"- {line}")
    for line in errors:
        print(f"- could not check: {line}")
    if not leftovers and not errors:
        print(f"None: no NSG rule `{RULE_PREFIX}*`, no element in any `jit_ssh` set.")
    return 1 if leftovers or errors else 0


def do_serving_version(r: Runner, ts: list[Target]) -> int:
    backends = [t for t in ts if t.role == "backend"]
    if not backends:
        raise JitError("no directly reachable host with role backend in the inventory")
    out = r.on_host(backends[0], host_script("serving-version", None))
    print(out.strip().splitlines()[0] if out.strip() else "")
    return 0


ACTIONS = ("runner-ip", "open", "close", "check", "serving-version")


def run(action: str, ip: str | None, ttl: str, channel: str, dry_run: bool) -> int:
    """One action; errors are one line `jit-access <action>: ...` and exit 1."""
    try:
        if action == "runner-ip":
            print(runner_ip())
            return 0
        from lostops.inventory import InventoryError, load

        try:
            inv = load(None)
        except InventoryError as exc:
            raise JitError(f"inventory: {exc.source}: {'; '.join(exc.lines())}") from None
        ts = targets(inv)
        r = Runner(channel, dry_run)
        if action == "open":
            return do_open(r, ts, parse_ip(ip), parse_ttl(ttl), run_tag())
        if action == "close":
            return do_close(r, ts, parse_ip(ip), run_tag())
        if action == "check":
            return do_check(r, ts)
        return do_serving_version(r, ts)
    except JitError as exc:
        print(f"jit-access {action}: {exc}", file=sys.stderr)
        return 1
