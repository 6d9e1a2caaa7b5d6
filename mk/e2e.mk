# End-to-end tier (included by the Makefile: include mk/*.mk; standalone:
# make -f mk/e2e.mk <target>). Real salt-ssh against three systemd-nspawn
# Debian 13 hosts (tests/lab/labctl.py); see docs/e2e.md. MUST run as root.
VENV ?= .venv
E2E_PYTEST ?= $(VENV)/bin/pytest
E2E_PYTHON ?= $(VENV)/bin/python
# Extra pytest arguments, e.g. E2E_ARGS='-k matrix' (the lab is still booted
# and converged first, and always torn down).
E2E_ARGS ?=
export VENV

.PHONY: e2e bench-e2e bench-scale bench-scale-master e2e-preflight

# One line and exit 2 when this machine cannot run the lab (not root, no
# systemd-nspawn, no venv, ...): the tier never skips silently.
# Checked first (before `deps` installs the venv), and again with the venv.
e2e-preflight:
	@python3 scripts/deps-system --tier e2e
	@python3 -m tests.e2e.preflight --no-venv

# Azurite (Microsoft's Azure Storage emulator): the backup storage account of
# the lab and of the unit test of the backup script (tests/lab/azurite.py).
# Its own locked npm project (the root package.json is the cdktf CLI's).
tools/azurite/node_modules/.synced: tools/azurite/package-lock.json
	npm ci --prefix tools/azurite --no-audit --no-fund --ignore-scripts
	@touch $@

e2e: e2e-preflight tools/azurite/node_modules/.synced ## end-to-end tier on the nspawn lab: converge, idempotence, host facts, ports, matrix, roll-out, persistence, bad input (root)
	@python3 -m tests.e2e.preflight
	$(E2E_PYTEST) tests/e2e -v -rfE -p no:cacheprovider $(E2E_ARGS)

bench-e2e: e2e-preflight ## time lab boot, first converge, no-op re-applies (targets 6 s for 3 hosts, 4 s for one) with their profile, peak memory per host (root)
	@python3 -m tests.e2e.preflight
	$(E2E_PYTHON) -m tests.e2e.bench

# matplotlib for the scaling plot only: its own venv, hashes pinned in tools/.
.venv-plot/.synced: tools/requirements-plot.txt
	python3 -m venv .venv-plot
	.venv-plot/bin/pip install --quiet --no-deps --require-hashes -r $<
	@touch $@

bench-scale: e2e-preflight .venv-plot/.synced ## 3, 6, 9 lab hosts: converge, no-op re-apply, memory, ssh connections -> docs/figures.md + docs/scale.png (root; not in make test)
	@python3 -m tests.e2e.preflight
	$(E2E_PYTHON) -m tests.e2e.bench_scale

bench-scale-master: e2e-preflight .venv-plot/.synced ## bench-scale for salt-ssh AND salt-master/minion (inventory salt.master: monitoring; keys by fingerprint; per-state comparison) (root; not in make test)
	@python3 -m tests.e2e.preflight
	LOSTOPS_SCALE_MASTER=1 $(E2E_PYTHON) -m tests.e2e.bench_scale
