"""Every pin of the repository, found by scanning, and which Renovate manager keeps it current.

`scan()` reads the files git tracks and finds what pins a version by its
form, not from a list of places: `uses: owner/repo@<sha> # vX`, `image:` and
`FROM` references, `*-version:` inputs of workflow steps, `name==version` in
workflows, scripts and Python, `{name, tag, digest}` image entries and quoted
apt versions in the pillar, `*_VERSION = "x.y"` constants, the Pipfile's
Python, and the manifests and lock files of pipenv, npm and pip. A new pin in
any of these forms is found without editing this module.

`coverage(pins, config)` says, for each pin, which manager of
.github/renovate.json updates it: a built-in manager (github-actions,
dockerfile, pipenv, npm, pip_requirements, pip-compile) whose file patterns
(the defaults from Renovate's own JSON schema, plus the config's) match the
file and that no package rule disables there, or a custom regex manager whose
`matchStrings` capture the pin's value as `currentValue`, evaluated here on
the file's text. tests/unit/test_renovate.py fails on any uncovered pin.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from lostops.inventory import REPO_ROOT

RENOVATE_CONFIG = REPO_ROOT / ".github" / "renovate.json"
SHA = re.compile(r"^[0-9a-f]{40}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Not pins: documentation prose and the tests' own data (versions they make up to test code).
# tests/lab/ is scanned: it pins the real programs of the lab.
SKIP_PREFIXES = ("docs/", "tests/unit/", "tests/e2e/")
SKIP_SUFFIXES = (".md", ".svg", ".png", ".json5")


@dataclass(frozen=True)
class Pin:
    file: str  # repository-relative path
    line: int  # 1-based
    kind: str  # action, image, runner, tool-version, pypi, image-entry, apt, python, constant, manifest, lockfile
    dep: str  # what is pinned (package, image, action, input name)
    value: str  # the pinned version or tag ('' for a manifest/lock file)
    offset: int  # position of `value` in the file's text (of the line for files)
    digest: str | None = None  # images/actions: the digest pinned with it ('' when there is none yet)
    context: str = ""  # the action a tool-version input belongs to

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def label(self) -> str:
        return f"{self.where()}: {self.kind} {self.dep}" + (f" {self.value}" if self.value else "")


@dataclass
class Skipped:
    file: str
    line: int
    what: str
    reason: str


@dataclass
class Scan:
    pins: list[Pin] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def tracked_files(root: Path = REPO_ROOT) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return sorted(f for f in out.decode().split("\0") if f and (root / f).is_file())


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _is_workflow(path: str) -> bool:
    return bool(re.match(r"^\.github/workflows/[^/]+\.ya?ml$", path))


def _is_dockerfile(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (
        name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile")
    ) and not name.endswith("ignore")


def _comment_free(text: str) -> str:
    """The text with YAML/shell/Python comment lines blanked (same length, offsets stay valid)."""
    return re.sub(r"(?m)^[ \t]*#.*$", lambda m: " " * len(m.group(0)), text)


RE_USES = re.compile(r"(?m)^[ \t]*(?:-[ \t]+)?uses:[ \t]*([^\s#@]+)@(\S+)(?:[ \t]+#[ \t]*(\S+))?")
RE_IMAGE = re.compile(r"(?m)^[ \t]*(?:-[ \t]+)?image:[ \t]*['\"]?([^\s'\"#]+)")
RE_RUNS_ON = re.compile(r"(?m)^[ \t]*runs-on:[ \t]*['\"]?([A-Za-z0-9._-]+)")
RE_WITH_VERSION = re.compile(r"(?m)^[ \t]*([A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*[-_]version):[ \t]*['\"]?([^\s'\"#]+)")
RE_PIP_PIN = re.compile(r"(?<![\w.-])([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][^\s\"',;)]*)")
RE_FROM = re.compile(r"(?mi)^FROM[ \t]+(?:--platform=\S+[ \t]+)?(\S+)")
RE_IMAGE_ENTRY = re.compile(
    r"\{name:[ \t]*([^,\s']+),[ \t]*tag:[ \t]*'?([^,'\s]*)'?,[ \t]*digest:[ \t]*'?([^'\s}]*)'?\}"
)
RE_APT = re.compile(r"(?m)^[ \t]+([a-z0-9][a-z0-9.+-]*):[ \t]*'(\d+:)?(\d+\.\d+[0-9A-Za-z.+~*-]*-[0-9A-Za-z.+~*]*)'")
RE_CONSTANT = re.compile(r"(?m)^([A-Z][A-Z0-9_]*_VERSION)[ \t]*=[ \t]*\"(\d+\.\d+[0-9A-Za-z.+-]*)\"")
RE_PIPFILE_PYTHON = re.compile(r"(?m)^python_version[ \t]*=[ \t]*\"([^\"]+)\"")


def _split_image(ref: str) -> tuple[str, str, str]:
    """name, tag, digest of an image reference."""
    ref, _, digest = ref.partition("@")
    name, tag = ref, ""
    if ":" in ref.rsplit("/", 1)[-1]:
        name, _, tag = ref.rpartition(":")
    return name, tag, digest


def _step_uses(text: str, offset: int) -> str:
    """The `uses:` of the workflow step that contains `offset` ('' when none)."""
    start = text.rfind("\n", 0, offset)
    lines = text[: start + 1].splitlines()
    for line in reversed(lines):
        m = re.match(r"^[ \t]*(?:-[ \t]+)?uses:[ \t]*([^\s#@]+)", line)
        if m:
            return m.group(1)
        if re.match(r"^[ \t]*-[ \t]", line):  # the step's first line, without uses:
            return ""
    return ""


def scan_file(path: str, text: str, scan: Scan) -> None:
    add = scan.pins.append
    body = _comment_free(text) if not path.endswith((".json", ".lock", ".txt", ".in")) else text
    name = path.rsplit("/", 1)[-1]

    if _is_workflow(path):
        for m in RE_USES.finditer(body):
            action, ref, comment = m.group(1), m.group(2), m.group(3) or ""
            if action.startswith("./"):
                continue
            if action.startswith("docker://"):
                img, tag, digest = _split_image(action[len("docker://") :] + "@" + ref)
                add(Pin(path, _line_of(text, m.start(1)), "image", img, tag, m.start(1), digest))
                continue
            pinned = ref if not SHA.match(ref) else comment
            add(
                Pin(
                    path,
                    _line_of(text, m.start()),
                    "action",
                    action,
                    pinned,
                    m.start(2),
                    ref if SHA.match(ref) else "",
                )
            )
        for m in RE_IMAGE.finditer(body):
            if "${{" in m.group(1):
                continue
            img, tag, digest = _split_image(m.group(1))
            add(Pin(path, _line_of(text, m.start(1)), "image", img, tag, m.start(1), digest))
        for m in RE_RUNS_ON.finditer(body):
            if re.search(r"\d", m.group(1)):  # ubuntu-24.04 pins; ubuntu-latest would not
                add(Pin(path, _line_of(text, m.start(1)), "runner", m.group(1).split("-")[0], m.group(1), m.start(1)))
        for m in RE_WITH_VERSION.finditer(body):
            if "${{" in m.group(2):
                continue
            add(
                Pin(
                    path,
                    _line_of(text, m.start(2)),
                    "tool-version",
                    m.group(1),
                    m.group(2),
                    m.start(2),
                    context=_step_uses(body, m.start()),
                )
            )

    if _is_dockerfile(path):
        stages = {
            m.group(1).lower() for m in re.finditer(r"(?mi)^FROM[ \t]+\S+(?:[ \t]+\S+)*?[ \t]+AS[ \t]+(\S+)", body)
        }
        for m in RE_FROM.finditer(body):
            if m.group(1).lower() in stages or m.group(1) == "scratch":
                continue
            img, tag, digest = _split_image(m.group(1))
            add(Pin(path, _line_of(text, m.start(1)), "image", img, tag, m.start(1), digest))

    if _is_workflow(path) or path.startswith(("scripts/", "mk/")) or name == "Makefile" or path.endswith(".py"):
        for m in RE_PIP_PIN.finditer(body):
            add(Pin(path, _line_of(text, m.start(2)), "pypi", m.group(1), m.group(2), m.start(2)))

    if path.endswith(".py"):
        for m in RE_CONSTANT.finditer(body):
            add(Pin(path, _line_of(text, m.start(2)), "constant", m.group(1), m.group(2), m.start(2)))

    if path.endswith((".sls", ".yaml", ".yml")) and path.startswith(("pillar/", "salt/")):
        for m in RE_IMAGE_ENTRY.finditer(body):
            img, tag, digest = m.group(1), m.group(2), m.group(3)
            where = _line_of(text, m.start())
            if img.startswith("localhost/"):
                scan.skipped.append(Skipped(path, where, img, "built here (the lab's images), no registry"))
                continue
            if not tag:
                scan.skipped.append(Skipped(path, where, img, "tag and digest set per release (release workflow)"))
                continue
            add(Pin(path, where, "image-entry", img, tag, m.start(2), digest))
        for m in RE_APT.finditer(body):  # the value's offset: the upstream version, after any epoch
            add(Pin(path, _line_of(text, m.start(3)), "apt", m.group(1), (m.group(2) or "") + m.group(3), m.start(3)))

    if name == "Pipfile":
        add(Pin(path, 1, "manifest", "pipenv", "", 0))
        for m in RE_PIPFILE_PYTHON.finditer(text):
            add(Pin(path, _line_of(text, m.start(1)), "python", "python", m.group(1), m.start(1)))
    elif name == "Pipfile.lock" or name == "package-lock.json":
        add(Pin(path, 1, "lockfile", name, "", 0))
    elif name == "package.json":
        add(Pin(path, 1, "manifest", "npm", "", 0))
    elif re.match(r"^[\w-]*requirements([-._]\w+)?\.(txt|in)$", name):
        kind = "lockfile" if "--hash=" in text else "manifest"
        add(Pin(path, 1, kind, name, "", 0))


def scan(root: Path = REPO_ROOT) -> Scan:
    result = Scan()
    for path in tracked_files(root):
        if path.startswith(SKIP_PREFIXES) or path.endswith(SKIP_SUFFIXES) or "/node_modules/" in path:
            continue
        try:
            text = (root / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        scan_file(path, text, result)
    return result


# ------------------------------------------------------------------ Renovate


def js_regex(pattern: str) -> re.Pattern:
    """A Renovate (JavaScript/RE2) regex as a Python one: named groups differ."""
    return re.compile(re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern))


def glob_regex(glob: str) -> str:
    """A minimatch glob as a regex: `**/` is zero or more directories, `*` and `?` stay within one."""
    out, i = "", 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out, i = out + "(?:/.*)?", i + 3
        elif glob.startswith("**", i):
            out, i = out + ".*", i + 2
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif glob[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return f"^{out}$"


def file_pattern_matches(pattern: str, path: str) -> bool:
    """Renovate's managerFilePatterns/matchFileNames/ignorePaths: `/regex/` or a (minimatch) glob."""
    if len(pattern) > 1 and pattern.startswith("/") and pattern.rstrip("i").endswith("/"):
        flags = re.I if pattern.endswith("/i") else 0
        return re.search(js_regex(pattern[1 : pattern.rstrip("i").rfind("/")]).pattern, path, flags) is not None
    return re.match(glob_regex(pattern), path) is not None


def schema_defaults(schema: dict) -> dict[str, list[str]]:
    """Each manager's default managerFilePatterns, from Renovate's published JSON schema."""
    out = {}
    for name, definition in schema.get("definitions", {}).items():
        default = definition.get("default") if isinstance(definition, dict) else None
        if isinstance(default, dict) and "managerFilePatterns" in default:
            out[name] = list(default["managerFilePatterns"])
    return out


# Renovate's own defaults that change what is covered, from its source
# (renovatebot/renovate): the ignorePaths of the `:ignoreModulesAndTests`
# preset, which `config:recommended` extends (lib/config/presets/internal/
# default.preset.ts), and the options its pip-compile manager can replay from
# an output file's header (lib/modules/manager/pip-compile/common.ts).
PRESET_IGNORE_PATHS = [
    "**/node_modules/**",
    "**/bower_components/**",
    "**/vendor/**",
    "**/examples/**",
    "**/__tests__/**",
    "**/test/**",
    "**/tests/**",
    "**/__fixtures__/**",
]
PRESETS_WITH_IGNORE_PATHS = {"config:recommended", ":ignoreModulesAndTests", "config:js-app", "config:js-lib"}
PIP_COMPILE_OPTIONS = {
    "-v",
    "--allow-unsafe",
    "--generate-hashes",
    "--no-emit-index-url",
    "--strip-extras",
    "--emit-index-url",
    "--index-url",
    "--all-extras",
    "--resolver",
    "--constraint",
    "--output-file",
    "--extra",
    "--extra-index-url",
}


def pip_compile_unsupported(text: str) -> list[str]:
    """Options in a pip-compile output's header command that Renovate's pip-compile manager refuses."""
    m = re.search(r"(?m)^#    pip-compile( .*)?$", text)
    if not m:
        return ["(no pip-compile command in the header)"]
    return [
        a.split("=")[0]
        for a in (m.group(1) or "").split()
        if a.startswith("-") and a.split("=")[0] not in PIP_COMPILE_OPTIONS
    ]


# Which built-in manager reads a pin of this kind in this kind of file.
BUILTIN_SETUP_ACTIONS = {
    "actions/setup-node": "node-version",
    "actions/setup-python": "python-version",
    "actions/setup-go": "go-version",
}


def builtin_manager(pin: Pin, text: str = "") -> str | None:
    """`text`: the file's text (a pip-compile output is told by its header)."""
    if _is_workflow(pin.file):
        if pin.kind in ("action", "image", "runner"):
            return "github-actions"
        if pin.kind == "tool-version" and BUILTIN_SETUP_ACTIONS.get(pin.context) == pin.dep:
            return "github-actions"
        return None
    if pin.kind == "image" and _is_dockerfile(pin.file):
        return "dockerfile"
    name = pin.file.rsplit("/", 1)[-1]
    if pin.kind in ("manifest", "lockfile"):
        if name in ("Pipfile", "Pipfile.lock"):
            return "pipenv"
        if name in ("package.json", "package-lock.json"):
            return "npm"
        if name.endswith(".in") or re.search(r"(?m)^#    pip-compile ", text[:2000]):
            return "pip-compile"
        return "pip_requirements"
    return None


def lock_source(pin: Pin) -> Pin | None:
    """The manifest whose manager rewrites this lock file (Pipfile.lock -> Pipfile, package-lock.json ->
    package.json), or the pip-compile output that names this .in file; None for anything else."""
    if pin.kind not in ("manifest", "lockfile"):
        return None
    folder, _, name = pin.file.rpartition("/")
    prefix = f"{folder}/" if folder else ""
    if name == "Pipfile.lock":
        return Pin(prefix + "Pipfile", 1, "manifest", "pipenv", "", 0)
    if name == "package-lock.json":
        return Pin(prefix + "package.json", 1, "manifest", "npm", "", 0)
    if name.endswith(".in"):
        return Pin(prefix + name[: -len(".in")] + ".txt", 1, "lockfile", name[: -len(".in")] + ".txt", "", 0)
    return None


@dataclass
class Coverage:
    pin: Pin
    manager: str | None  # "github-actions", "regex: <description>", ... or None
    why_not: str = ""


class Renovate:
    def __init__(self, config: dict, schema: dict, root: Path = REPO_ROOT):
        self.config = config
        self.defaults = schema_defaults(schema)
        self.root = root
        self._texts: dict[str, str] = {}

    def text(self, path: str) -> str:
        if path not in self._texts:
            self._texts[path] = (self.root / path).read_text(encoding="utf-8")
        return self._texts[path]

    def ignore_paths(self) -> list[str]:
        """The config's ignorePaths, else those of a preset it extends (a repository's list replaces the preset's)."""
        if "ignorePaths" in self.config:
            return list(self.config["ignorePaths"])
        if PRESETS_WITH_IGNORE_PATHS & set(self.config.get("extends", [])):
            return list(PRESET_IGNORE_PATHS)
        return []

    def ignored(self, path: str) -> bool:
        return any(file_pattern_matches(p, path) for p in self.ignore_paths())

    def enabled(self, manager: str) -> bool:
        managers = self.config.get("enabledManagers")
        if managers is not None and manager not in managers:
            return False
        return self.config.get(manager, {}).get("enabled", True) is not False

    def file_patterns(self, manager: str) -> list[str]:
        return self.defaults.get(manager, []) + list(self.config.get(manager, {}).get("managerFilePatterns", []))

    def disabled_by_rule(self, manager: str, pin: Pin) -> bool:
        for rule in self.config.get("packageRules", []):
            if rule.get("enabled") is not False:
                continue
            if "matchManagers" in rule and manager not in rule["matchManagers"]:
                continue
            if "matchFileNames" in rule and not any(file_pattern_matches(p, pin.file) for p in rule["matchFileNames"]):
                continue
            names = rule.get("matchDepNames", []) + rule.get("matchPackageNames", [])
            if names and pin.dep not in names:
                continue
            return True
        return False

    def custom_cover(self, pin: Pin) -> str | None:
        """The custom regex manager whose currentValue capture is this pin's value."""
        for cm in self.config.get("customManagers", []):
            if cm.get("customType") != "regex":
                continue
            if not any(file_pattern_matches(p, pin.file) for p in cm.get("managerFilePatterns", [])):
                continue
            text = self.text(pin.file)
            for ms in cm.get("matchStrings", []):
                for m in js_regex(ms).finditer(text):
                    groups = m.re.groupindex
                    if "currentValue" in groups and m.start("currentValue") <= pin.offset < max(
                        m.end("currentValue"), m.start("currentValue") + 1
                    ):
                        if pin.kind in ("image", "image-entry") and not self.digest_writable(cm, m):
                            continue
                        return f"regex: {cm.get('description', ms)}"
        return None

    def digest_writable(self, cm: dict, m: re.Match) -> bool:
        """A custom manager can keep an image's digest: it captures currentDigest and writes newDigest back."""
        return "currentDigest" in m.re.groupindex and "newDigest" in cm.get("autoReplaceStringTemplate", "")

    def cover(self, pin: Pin) -> Coverage:
        if self.ignored(pin.file):
            return Coverage(pin, None, self.ignored_reason(pin.file))
        source = lock_source(pin)
        if source is not None:  # a lock file or a pip-compile input: updated with the file its manager reads
            if not (self.root / source.file).exists():
                return Coverage(pin, None, f"{source.file} (the file its manager reads) does not exist")
            covered = self.cover(source)
            return Coverage(pin, covered.manager and f"{covered.manager} (with {source.file})", covered.why_not)
        manager = builtin_manager(pin, self.text(pin.file) if pin.kind in ("manifest", "lockfile") else "")
        if manager is not None:
            if not self.enabled(manager):
                return Coverage(pin, None, f"{manager} is disabled")
            if not any(file_pattern_matches(p, pin.file) for p in self.file_patterns(manager)):
                return Coverage(pin, None, f"{manager}'s managerFilePatterns do not match the file")
            if self.disabled_by_rule(manager, pin):
                return Coverage(pin, None, f"a package rule disables {manager} here")
            if manager == "pip-compile":
                bad = pip_compile_unsupported(self.text(pin.file))
                if bad:
                    return Coverage(pin, None, f"Renovate's pip-compile manager refuses the header's {', '.join(bad)}")
            return Coverage(pin, manager)
        found = self.custom_cover(pin)
        if found:
            return Coverage(pin, found)
        return Coverage(pin, None, "no built-in manager reads it and no custom manager captures it as currentValue")

    def ignored_reason(self, path: str) -> str:
        return "file in ignorePaths" + ("" if "ignorePaths" in self.config else " (of a preset the config extends)")

    def dead_custom_managers(self, pins: list[Pin]) -> list[str]:
        """Custom managers that capture no pin (a typo in a pattern, or a pin that moved)."""
        used = {c.manager for c in (self.cover(p) for p in pins)}
        return [
            cm.get("description", str(cm.get("matchStrings")))
            for cm in self.config.get("customManagers", [])
            if f"regex: {cm.get('description', cm.get('matchStrings', [''])[0])}" not in used
        ]


def load_config(path: Path = RENOVATE_CONFIG) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def missing_digests(pins: list[Pin]) -> list[Pin]:
    """Image pins without a digest yet (Renovate's pinDigests fills them on its first run)."""
    return [p for p in pins if p.kind in ("image", "image-entry") and not p.digest]


def renovate_schema() -> dict:
    """Renovate's published JSON schema, as vendored by check-jsonschema (a dev package of the Pipfile)."""
    import check_jsonschema

    path = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "renovate.json"
    return json.loads(path.read_text(encoding="utf-8"))


def run(uncovered_only: bool = False) -> int:
    """`lostops pins`: every pin, the manager that updates it, the missing digests; exit 1 on an uncovered pin."""
    found = scan()
    renovate = Renovate(load_config(), renovate_schema())
    bad = 0
    for c in map(renovate.cover, found.pins):
        if c.manager is None:
            bad += 1
            print(f"UNCOVERED {c.pin.label()}: {c.why_not}")
        elif not uncovered_only:
            print(f"{c.pin.label()} <- {c.manager}")
    if not uncovered_only:
        for s in found.skipped:
            print(f"not a pin {s.file}:{s.line}: {s.what} ({s.reason})")
    for p in missing_digests(found.pins):
        print(f"no digest yet {p.label()} (Renovate's first run writes it)")
    print(f"pins: {len(found.pins)}, uncovered: {bad}")
    return 1 if bad else 0
