"""The `lostops` command line: one entry point for the repository's tools.

Thin on purpose: each command parses its options (click) and calls one
function of the package, which prints its own output and returns the exit
status. Modules are imported inside the commands, so `lostops --help` and the
light commands (version check, summaries, release plan) do not load pydantic,
Salt or cryptography.

    lostops inventory check [INVENTORY]       validate an inventory (make check-inventory, synth)
    lostops secrets write                     pillar/secrets.yaml from LOSTOPS_SECRET_* (make secrets)
    lostops mysql-ca [FILE]                   the MySQL CA as two export lines
    lostops backup sas --account A ...        a SAS of the backup container (docs/mysql.md)
    lostops render [--inventory I] [HOST...]  each host's highstate to render/ (make render)
    lostops access-picture [--check|--markdown]   docs/access-<inventory>.svg (make access-picture)
    lostops version check VERSION             Major.Minor.Revision, normalized
    lostops summary trivy|drift|tests         Markdown/text summaries for CI and make test
    lostops release plan|guard|rollout        the release workflow's steps (mk/release.mk)
    lostops jit open|close|check|serving-version|runner-ip   just-in-time SSH
    lostops bench-synth                       cdktf and cdktn synth vs their one-resource app (make bench)
    lostops eol [--write-readme|--check]      end-of-life table from docs/eol.yaml (make eol-table)
    lostops pins [--uncovered]                every pin and the Renovate manager that updates it
    lostops salt-ssh ARGS...                  salt-ssh that keeps the thin bundle, never the pillar

Exit status 2 is bad usage everywhere (click's own, or the command's one line).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _env(name: str, fallback: str | None = None):
    """A default read from the environment when the command runs ('' counts as unset)."""
    return lambda: os.environ.get(name) or fallback


def _env_flag(name: str, default: bool = False):
    def value() -> bool:
        from lostops.release import truthy

        return truthy(os.environ.get(name), default)

    return value


def _inventory_default() -> str:
    from lostops.inventory import DEFAULT_INVENTORY, ENV_INVENTORY

    return os.environ.get(ENV_INVENTORY) or DEFAULT_INVENTORY


def _done(code: int) -> None:
    click.get_current_context().exit(code)


inventory_option = click.option(
    "--inventory",
    "selector",
    default=_inventory_default,
    metavar="NAME|PATH",
    help="pillar/inventory/<NAME>.yaml or a file (default: $LOSTOPS_INVENTORY or example)",
)


class _OneLineGroup(click.Group):
    """The last guard of "one line and an exit code, never a traceback".

    Each command reports its own expected problems in its own words; anything
    that still escapes (an output that cannot be written, a program that is not
    installed, input no command foresaw) becomes one line `lostops <command>:
    <what>` and exit 1. LOSTOPS_DEBUG=1 shows the traceback instead.
    """

    def invoke(self, ctx: click.Context):
        argv = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # click 8.2+: the command words
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("LOSTOPS_DEBUG") == "1":
                raise
            click.echo(f"lostops {_command_words(self, argv)}: {describe(exc)}", err=True)
            ctx.exit(1)


def _command_words(group: click.Group, argv: list[str]) -> str:
    """`render`, `summary trivy`: the command (and subcommand) named in `argv`."""
    words: list[str] = []
    for arg in argv:
        if not isinstance(group, click.Group) or arg not in group.commands:
            break
        words.append(arg)
        group = group.commands[arg]
    return " ".join(words) or "?"


def describe(exc: BaseException) -> str:
    """One line for an exception that escaped a command."""
    if isinstance(exc, OSError) and exc.filename is not None:
        tb, last = exc.__traceback__, None
        while tb is not None:
            last, tb = tb, tb.tb_next
        if last is not None and last.tb_frame.f_code.co_filename.endswith("subprocess.py"):
            return f"cannot run {exc.filename}: {exc.strerror} (is it installed?)"
        return f"{exc.filename}: {exc.strerror}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


@click.group(context_settings=CONTEXT, cls=_OneLineGroup)
def main() -> None:
    """Lostops infrastructure: one inventory drives the NSGs, Salt and the workflows."""


# --------------------------------------------------------------------------- inventory


@main.group()
def inventory() -> None:
    """The inventory (pillar/inventory/<name>.yaml)."""


@inventory.command("check")
@click.argument("selector", required=False, metavar="[INVENTORY]")
def inventory_check(selector: str | None) -> None:
    """Validate INVENTORY (default: $LOSTOPS_INVENTORY or example).

    One line per problem (`inventory error: <file>: <field>: <problem>`) and
    exit 2, or a one-line summary. `make synth` runs it first, so a bad
    inventory stops before cdktf starts and nothing is written to cdktf.out.
    """
    from lostops.inventory import run_check

    _done(run_check(selector))


# --------------------------------------------------------------------------- secrets


@main.group()
def secrets() -> None:
    """The pillar secrets file (pillar/secrets.yaml, git-ignored)."""


@secrets.command("write")
def secrets_write() -> None:
    """Write pillar/secrets.yaml (or $LOSTOPS_SECRETS_FILE), mode 0600, from LOSTOPS_SECRET_<KEY>.

    Which keys are needed depends on the roles in the selected inventory
    ($LOSTOPS_INVENTORY); pillar/secrets.yaml.example lists them all. Values
    are never printed. Exit 2 with one line naming the variable when one is
    missing or malformed.
    """
    from lostops.secrets import run_write

    _done(run_write(dict(os.environ)))


@main.command("mysql-ca")
@click.argument("file", required=False)
@click.option("--rsa", "use_rsa", is_flag=True, help="RSA-3072 key instead of EC P-256")
@click.option("--cn", default="Lostops MySQL CA", show_default=True, help="the CA's common name")
@click.option("--force", is_flag=True, help="overwrite FILE if it exists")
def mysql_ca(file: str | None, use_rsa: bool, cn: str, force: bool) -> None:
    """Create the private CA that signs MySQL's server certificate.

    Prints two `export LOSTOPS_SECRET_MYSQL_CA_CERT=... / _KEY=...` lines, or
    writes them into FILE (mode 0600), the inputs of `make secrets`:
    `lostops mysql-ca ~/lostops-ca.env && . ~/lostops-ca.env && make secrets`.
    """
    from lostops.mysqlca import run

    _done(run(file, use_rsa, cn, force))


@main.group()
def backup() -> None:
    """Off-host MySQL backups (inventory azure.backup; docs/mysql.md)."""


@backup.command("sas")
@click.option("--account", required=True, help="storage account (inventory azure.backup.storage_account)")
@click.option("--container", required=True, help="container (inventory azure.backup.container)")
@click.option("--permissions", required=True, help="c for the database host; rl for an operator's restore")
@click.option("--days", type=float, required=True, help="valid for this many days from now (at most 365)")
@click.option("--http", "allow_http", is_flag=True, help="also plain http (only for the lab's emulator)")
def backup_sas(account: str, container: str, permissions: str, days: float, allow_http: bool) -> None:
    """Print a container SAS signed with the account key in $LOSTOPS_BACKUP_ACCOUNT_KEY.

    The database host's token is `--permissions c` (create only: it can add
    backups, never read, list, overwrite or delete them); rotate it before it
    expires (docs/mysql.md, "Rotating the backup SAS").
    """
    from lostops.backup import run_sas

    _done(run_sas(account, container, permissions, days, allow_http, dict(os.environ)))


# --------------------------------------------------------------------------- salt, pictures


@main.command("render")
@inventory_option
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="output directory (default: render/ of the repository)"
)
@click.argument("hosts", nargs=-1, metavar="[HOST]...")
def render_cmd(selector: str, out: Path | None, hosts: tuple[str, ...]) -> None:
    """Render every host's highstate with Salt (state.show_highstate) to render/<host>.json.

    The content of every file.managed (templates rendered by Salt's
    file.get_managed, as on the host) goes to render/<host>/<absolute path>.
    Uses pillar/secrets.yaml.example and skips the secrets check, so no real
    secret is needed. Exit 1 with Salt's own error text when a host fails.
    """
    from lostops import render
    from lostops.inventory import REPO_ROOT

    _done(render.run(selector, out or REPO_ROOT / "render", list(hosts)))


@main.command("access-picture")
@inventory_option
@click.option(
    "--out", default=None, help="SVG to write or check (default: docs/access-<inventory>.svg; --markdown: stdout)"
)
@click.option("--check", "check_only", is_flag=True, help="compare the committed picture with the inventory (exit 1)")
@click.option("--markdown", is_flag=True, help="Mermaid flowchart + flow table, for a job summary")
def access_picture(selector: str, out: str | None, check_only: bool, markdown: bool) -> None:
    """Draw the access policy of an inventory as SVG (Graphviz), or check a committed picture.

    Hosts, sources and arrows come from lostops.policy.host_rules, the rules of
    the NSGs and the host firewall. A bad inventory prints the usual one-line
    errors and exits 2; so does a missing or failing Graphviz.
    """
    if check_only and markdown:
        raise click.UsageError("--check and --markdown cannot be combined")
    from lostops import picture

    _done(picture.run(selector, out, check_only=check_only, markdown=markdown))


# --------------------------------------------------------------------------- version, summaries


@main.group()
def version() -> None:
    """Release versions (Major.Minor.Revision)."""


@version.command("check", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, metavar="VERSION")
def version_check(args: tuple[str, ...]) -> None:
    """Validate a release version and print it normalized (a leading v stripped).

    On success X.Y.Z goes to stdout and, when GITHUB_OUTPUT is set,
    `version=X.Y.Z` is appended to it. Bad input: one line, exit 2.
    """
    from lostops.version import check

    _done(check(list(args)))


@main.group()
def summary() -> None:
    """Summaries for CI job summaries and `make test`."""


@summary.command("trivy")
@click.argument("report")
@click.option("--image", default=None, help="image reference shown in the heading")
@click.option("--max-rows", type=int, default=50, show_default=True, help="most findings listed in the table")
def summary_trivy(report: str, image: str | None, max_rows: int) -> None:
    """Summarize a Trivy JSON REPORT as Markdown (HIGH and CRITICAL).

    "high=N" and "critical=N" go to $GITHUB_OUTPUT when it is set. Exit 0 when
    the report was read (whatever it found), 1 when it is missing or not Trivy
    JSON (a Markdown warning is still printed).
    """
    from lostops import trivy

    _done(trivy.run(report, image, max_rows))


@summary.command("drift")
@click.argument("salt_json", required=False, metavar="[SALT_JSON|-]")
@click.option("--mode", type=click.Choice(["test", "apply"]), default="test", show_default=True)
@click.option("--cdktf-diff", metavar="FILE", default=None, help="saved output of `cdktf diff`")
@click.option(
    "--no-comments",
    is_flag=True,
    help="list failed states without their comments (a roll-out failure's comment holds the container's logs)",
)
def summary_drift(salt_json: str | None, mode: str, cdktf_diff: str | None, no_comments: bool) -> None:
    """Summarize salt-ssh --out=json state results (and a cdktf diff) as Markdown.

    --mode test (state.apply test=True): pending changes are drift; --mode
    apply: failures are listed, changes only counted. Exit 0 clean, 1 drift,
    failures, minion errors or an unreadable input, 2 bad usage.
    """
    if salt_json is None and cdktf_diff is None:
        raise click.UsageError("give a salt-ssh JSON file, --cdktf-diff FILE, or both")
    import sys

    from lostops import drift

    markdown, bad = drift.summarize(salt_json, mode, cdktf_diff, comments=not no_comments)
    sys.stdout.write(markdown)
    _done(1 if bad else 0)


@summary.command("tests")
@click.option("--record", is_flag=True, help="also write the lines to docs/figures.md (section test)")
@click.option("--eol", is_flag=True, help="also the components near or past their end of life (docs/eol.yaml)")
@click.argument("reports", nargs=-1, metavar="TIER=REPORT.xml...")
def summary_tests(reports: tuple[str, ...], record: bool, eol: bool) -> None:
    """The closing summary of `make test`: one line per tier, then `total: N passed, N failed`."""
    from lostops import testsummary

    _done(testsummary.run(list(reports), record=record, eol=eol))


# --------------------------------------------------------------------------- pins


@main.command("pins")
@click.option("--uncovered", is_flag=True, help="only the pins no Renovate manager updates")
def pins_command(uncovered: bool) -> None:
    """Every pin of the repository (found by scanning) and the Renovate manager that updates it.

    Exit 1 when a pin is not covered by .github/renovate.json (the unit tier runs the same check).
    """
    from lostops import pins

    _done(pins.run(uncovered_only=uncovered))


# --------------------------------------------------------------------------- eol


@main.command("eol")
@click.option("--write-readme", is_flag=True, help="rewrite the README's end-of-life table (make eol-table)")
@click.option("--check", is_flag=True, help="exit 1 on a past date without a decision or a stale README table")
def eol_command(write_readme: bool, check: bool) -> None:
    """End-of-life dates of the pinned components (docs/eol.yaml): the table, then what is near or past."""
    from lostops import eol

    _done(eol.run(write_readme=write_readme, check=check))


# --------------------------------------------------------------------------- release


@main.group()
def release() -> None:
    """The release workflow's steps (also `make release-*`, mk/release.mk)."""


@release.command("plan")
def release_plan() -> None:
    """Plan a release run from the workflow's environment: version, build, deploy.

    Reads CALLED, EVENT_NAME, RELEASE_TAG, PRERELEASE, INPUT_VERSION,
    INPUT_FORCE, APP_REPOSITORY, CALLER_REPOSITORY, CALLER_SHA,
    INFRA_REPOSITORY, INFRA_REF, LOSTOPS_INVENTORY. Writes key=value lines to
    stdout and $GITHUB_OUTPUT, every value checked first (no line break can add
    an output). A pre-release is built and scanned, never deployed; a deploy
    needs the inventory. Exit 2 with one line for a bad version, infra ref,
    repository or a missing inventory.
    """
    from lostops.release import run_plan

    _done(run_plan(dict(os.environ)))


@release.command("guard")
@click.option("--version", "version_", default=_env("APP_VERSION"), help="version to deploy (default: $APP_VERSION)")
@click.option("--serving", default=_env("SERVING_VERSION", ""), help="what the backend serves now (empty: nothing)")
@click.option("--force", is_flag=True, flag_value=True, default=_env_flag("FORCE"), help="allow an older version")
def release_guard(version_: str | None, serving: str, force: bool) -> None:
    """Refuse to deploy a version older than the one serving, unless forced.

    One line: deploy (exit 0), or refused (exit 3). Exit 2: bad usage or a
    malformed --version. --serving comes from `lostops jit serving-version`.
    """
    from lostops.release import run_guard

    _done(run_guard(version_, serving, force))


@release.command("rollout")
@click.option("--version", "version_", default=_env("APP_VERSION", ""), help="app version (default: $APP_VERSION)")
@click.option("--digest", default=_env("APP_DIGEST", ""), help="scanned image digest sha256:... ($APP_DIGEST)")
@click.option("--json-out", default="salt-apply.json", show_default=True, help="raw salt-ssh JSON (never upload it)")
@click.option("--summary", default="-", show_default=True, help="append the Markdown result here ('-': stdout)")
@click.option("--dry-run", is_flag=True, help="print the salt-ssh command(s) only")
@click.option(
    "--no-backup",
    "backup",
    is_flag=True,
    flag_value=False,
    default=_env_flag("RELEASE_BACKUP", True),
    help="skip the fresh database backup before the roll-out ($RELEASE_BACKUP=false)",
)
@click.option(
    "--tag-without-digest",
    "tag_reason",
    default=_env("RELEASE_TAG_WITHOUT_DIGEST", ""),
    metavar="REASON",
    help="deploy the tag without a digest, for this reason ($RELEASE_TAG_WITHOUT_DIGEST); refused otherwise",
)
def release_rollout(
    version_: str, digest: str, json_out: str, summary: str, dry_run: bool, backup: bool, tag_reason: str
) -> None:
    """Roll the app out: a fresh database backup, then salt-ssh '*' state.apply with the app pillar.

    The pillar is {"app": {"version": X.Y.Z}, "images": {"app": {"digest":
    ...}}}. Without a digest it refuses (a tag moves) unless --tag-without-digest
    gives a reason. A failed backup stops before anything is applied. Exit status:
    salt-ssh's (0 ok, 20 a state failed), 1 no fresh backup, 2 bad input.
    SALT_SSH overrides the salt-ssh command (default .venv/bin/salt-ssh).
    """
    from lostops.release import rollout

    _done(rollout(version_, digest, json_out, summary, dry_run, backup, tag_reason or None))


# --------------------------------------------------------------------------- jit


@main.group()
def jit() -> None:
    """Just-in-time SSH for a runner: NSG rule + nftables set element with a timeout."""


def _jit_command(action: str, doc: str):
    @click.option("--ip", default=_env("LOSTOPS_JIT_IP"), help="the runner's IPv4 (default: $LOSTOPS_JIT_IP)")
    @click.option("--ttl", default=_env("LOSTOPS_JIT_TTL", "30m"), help="set element timeout (default 30m, at most 3h)")
    @click.option(
        "--channel",
        type=click.Choice(["azure", "exec"]),
        default=_env("LOSTOPS_JIT_CHANNEL", "azure"),
        help="azure (NSG + run-command) or exec (LOSTOPS_JIT_EXEC, the lab)",
    )
    @click.option("--dry-run", is_flag=True, help="print the commands instead of running them")
    def command(ip: str | None, ttl: str, channel: str, dry_run: bool) -> None:
        from lostops import jit as jit_mod

        _done(jit_mod.run(action, ip, ttl, channel, dry_run))

    command.__doc__ = doc
    return jit.command(action)(command)


_jit_command(
    "open",
    "Allow the runner: this run's NSG rule lostops-jit-ssh-<run> and a jit_ssh set element with --ttl (at most 3h).",
)
_jit_command(
    "close",
    "Remove this run's NSG rule and the set element of --ip: every step on every host whatever fails; "
    "exit 0 nothing left, 4 + 1 (NSG rule left) + 2 (set element left).",
)
_jit_command("check", "List just-in-time leftovers as Markdown; exit 1 if any.")
_jit_command("serving-version", "Print the app version the backend serves (empty before the first deploy).")
_jit_command("runner-ip", "Print this machine's public IPv4 ($LOSTOPS_JIT_IP when set).")


# --------------------------------------------------------------------------- bench


@main.command("bench-synth")
def bench_synth() -> None:
    """Time `cdktf synth` of the project against a one-resource azurerm app (BENCH_RUNS, default 5).

    Runs are interleaved; prints min/median of each and the median ratio
    (target <= 1.15, exit 1 above).
    """
    from lostops import bench

    _done(bench.run())


# --------------------------------------------------------------------------- salt-ssh


@main.command(
    "salt-ssh",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def salt_ssh(args: tuple[str, ...]) -> None:
    """salt-ssh ARGS, keeping the thin bundle on the hosts but never the pillar (lostops/saltssh.py).

    Every salt-ssh of the repository runs through this: after each host's run,
    whatever of it can hold the pillar is removed from the host, also after a
    failed or interrupted run. Same options and exit status as salt-ssh.
    """
    if args[:1] in (("-h",), ("--help",)):
        click.echo(click.get_current_context().get_help())
        click.echo("\nEvery argument is salt-ssh's (see .venv/bin/salt-ssh --help).")
        _done(0)
    from lostops import saltssh

    _done(saltssh.main(list(args)))
