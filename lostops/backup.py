"""Off-host backups: the SAS tokens of the backup container.

The database host gets a container SAS with the create permission alone
(``sp=c``): Azure lets it add new blobs (Put Blob, Put Block, Put Block List)
and refuses it to read, list, overwrite or delete. Operators get a separate,
short read+list SAS for restores. Both are *service* SAS signed with the
account key (string-to-sign of service version 2020-12-06 and later,
learn.microsoft.com "Create a service SAS"); the same signature Azurite
checks in the lab. ``az storage container generate-sas`` makes the same
tokens (docs/mysql.md shows both).

``lostops backup sas`` reads the account key from ``LOSTOPS_BACKUP_ACCOUNT_KEY``
(never from the command line) and prints the token.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import sys
from urllib.parse import quote, urlencode

SAS_VERSION = "2021-08-06"
ENV_ACCOUNT_KEY = "LOSTOPS_BACKUP_ACCOUNT_KEY"
# Permission letters of a container SAS, in the order Azure requires.
PERMISSION_ORDER = "racwdxltmeop"


class SasError(ValueError):
    """One line naming the bad argument."""


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_sas(
    account: str,
    key_b64: str,
    container: str,
    permissions: str,
    expiry: dt.datetime,
    start: dt.datetime | None = None,
    https_only: bool = True,
) -> str:
    """A service SAS (query string, no leading '?') for `container`."""
    if not permissions or any(p not in PERMISSION_ORDER for p in permissions):
        raise SasError(f"permissions: {permissions!r} is not a combination of {PERMISSION_ORDER}")
    perms = "".join(p for p in PERMISSION_ORDER if p in permissions)
    try:
        key = base64.b64decode(key_b64, validate=True)
    except ValueError:
        raise SasError(f"{ENV_ACCOUNT_KEY}: not a base64 account key") from None
    if not key:
        raise SasError(f"{ENV_ACCOUNT_KEY}: empty")
    st = _iso(start) if start else ""
    se = _iso(expiry)
    spr = "https" if https_only else ""
    fields = [perms, st, se, f"/blob/{account}/{container}", "", "", spr, SAS_VERSION, "c", "", "", "", "", "", "", ""]
    sig = base64.b64encode(hmac.new(key, "\n".join(fields).encode(), hashlib.sha256).digest()).decode()
    query = {"sv": SAS_VERSION}
    if st:
        query["st"] = st
    query["se"] = se
    query["sr"] = "c"
    query["sp"] = perms
    if spr:
        query["spr"] = spr
    query["sig"] = sig
    return urlencode(query, quote_via=quote, safe=":")


def run_sas(account: str, container: str, permissions: str, days: float, allow_http: bool, env: dict) -> int:
    """`lostops backup sas`: the token on stdout, or one line and 2."""
    key = env.get(ENV_ACCOUNT_KEY, "")
    if not key:
        print(f"backup sas: {ENV_ACCOUNT_KEY}: not set (the storage account's access key)", file=sys.stderr)
        return 2
    if not 0 < days <= 365:
        print(f"backup sas: --days: {days:g} is outside (0, 365]", file=sys.stderr)
        return 2
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        token = container_sas(
            account,
            key,
            container,
            permissions,
            now + dt.timedelta(days=days),
            start=now - dt.timedelta(minutes=5),
            https_only=not allow_http,
        )
    except SasError as exc:
        print(f"backup sas: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0
