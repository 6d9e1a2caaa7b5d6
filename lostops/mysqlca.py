"""The private CA that signs MySQL's server certificate (`lostops mysql-ca`).

    lostops mysql-ca                 print two `export` lines on stdout
    lostops mysql-ca FILE            write them into FILE (mode 0600)
    lostops mysql-ca --rsa [FILE]    RSA-3072 instead of EC P-256

The lines set LOSTOPS_SECRET_MYSQL_CA_CERT and LOSTOPS_SECRET_MYSQL_CA_KEY
(PEM, single-quoted), the inputs of `make secrets` (`lostops secrets write`):
    lostops mysql-ca ~/lostops-ca.env && . ~/lostops-ca.env && make secrets
Store both values as CI secrets of the same names; the key is a secret, the
certificate is not (the backend gets it to verify the database).

The CA is valid for 10 years and may only sign end-entity certificates
(pathlen 0). The database host issues its own server certificate from it
(salt/mysql/tls.sls); rotating the CA = running this again, updating both
secrets and re-applying the database and backend hosts.
Uses the `cryptography` package (a dependency of Salt, in the project venv).
"""

from __future__ import annotations

import datetime as dt
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from lostops.privatefile import write_private

VALID_DAYS = 3650
ENV = {"cert": "LOSTOPS_SECRET_MYSQL_CA_CERT", "key": "LOSTOPS_SECRET_MYSQL_CA_KEY"}


def make_ca(common_name: str, use_rsa: bool = False) -> tuple[str, str]:
    """Return (certificate PEM, unencrypted PKCS#8 key PEM)."""
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=3072)
        if use_rsa
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lostops"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert_pem, key_pem


def export_lines(cert_pem: str, key_pem: str) -> str:
    # PEM has no single quotes: a single-quoted shell string keeps it verbatim.
    return f"export {ENV['cert']}='{cert_pem.strip()}'\nexport {ENV['key']}='{key_pem.strip()}'\n"


CN_MAX = 64  # X.520 ub-common-name


def cn_problem(cn: str) -> str | None:
    """Why `cn` cannot be the CA's common name, or None."""
    if not cn.strip():
        return "--cn: the common name is empty"
    if len(cn) > CN_MAX:
        return f"--cn: {len(cn)} characters; a common name has at most {CN_MAX}"
    if any(ord(c) < 32 or ord(c) == 127 for c in cn):
        return "--cn: contains a line break or control character"
    return None


def run(file: str | None, use_rsa: bool, cn: str, force: bool) -> int:
    """Print the export lines, or write them to `file` (0600); 1 when `file` exists and not `force`
    or cannot be written, 2 for a bad --cn. The temporary file never outlives a failure."""
    problem = cn_problem(cn)
    if problem:
        print(f"make-mysql-ca: {problem}", file=sys.stderr)
        return 2
    if file and os.path.exists(file) and not force:
        print(f"make-mysql-ca: {file} exists (use --force to replace the CA)", file=sys.stderr)
        return 1
    text = export_lines(*make_ca(cn, use_rsa))
    if not file:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError as exc:
            print(f"make-mysql-ca: cannot write to stdout: {exc.strerror}", file=sys.stderr)
            return 1
        return 0
    try:
        write_private(file, text)
    except OSError as exc:
        print(f"make-mysql-ca: cannot write {file}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"make-mysql-ca: wrote {file} (0600); `. {file}` then `make secrets`", file=sys.stderr)
    return 0
