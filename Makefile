# Lostops infrastructure. `make synth` and `make test` are all a newcomer needs;
# both install what is missing first (pipenv venv from Pipfile.lock, npm ci).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
# The lostops command (pyproject.toml, installed editable by `pipenv sync`).
LOSTOPS := $(VENV)/bin/lostops
PYTEST := $(VENV)/bin/pytest
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_NOSPIN := 1
export PIPENV_VERBOSITY := -1
# jsii: the package cache halves the azurerm assembly load time.
export JSII_RUNTIME_PACKAGE_CACHE := enabled
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export CHECKPOINT_DISABLE := 1
# A TF_CLI_CONFIG_FILE pointing at a missing file only makes cdktf print warnings.
ifneq ($(TF_CLI_CONFIG_FILE),)
ifeq ($(wildcard $(TF_CLI_CONFIG_FILE)),)
unexport TF_CLI_CONFIG_FILE
endif
endif

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- install
$(VENV)/.synced: Pipfile.lock pyproject.toml
	@command -v pipenv >/dev/null || python3 -m pip install --quiet pipenv
	pipenv sync --dev
	@touch $@

# checkov lives in its own venv: every checkov >= 3.2.400 conflicts with
# salt==3008.4's pins (pip: ResolutionImpossible). Versions pinned in tools/.
.venv-checkov/.synced: tools/requirements-checkov.txt
	python3 -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --no-deps --require-hashes -r $<
	@touch $@

node_modules/.synced: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# tools/azurite/node_modules/.synced (Azurite, npm ci --prefix tools/azurite): mk/e2e.mk

# Debian packages the tests need (promtool/amtool, nft, graphviz, and the
# end-to-end lab's systemd-nspawn, debootstrap, ...): the list and the reason
# for each is in scripts/deps-system. The test targets call it themselves: as
# root it installs what is missing; otherwise it names the command in one line.
.PHONY: deps-system
deps-system: ## apt-get install every Debian package the tests need (root; the test targets do it themselves)
	@python3 scripts/deps-system --tier all

.PHONY: deps
deps: $(VENV)/.synced .venv-checkov/.synced node_modules/.synced deps-cdktn tools/azurite/node_modules/.synced ## install the pipenv venv (from the lock), the cdktf CLI (npm ci), CDK Terrain and Azurite

# ---------------------------------------------------------------- cdktf / cdktn
# LOSTOPS_CDK (cdktf, the default, or cdktn) selects $(CDK): mk/cdktn.mk.
.PHONY: synth
.PHONY: check-inventory
check-inventory: deps ## validate LOSTOPS_INVENTORY: one line per problem (synth/diff/deploy run it first)
	@$(LOSTOPS) inventory check

synth: check-inventory ## synthesize Terraform JSON for LOSTOPS_INVENTORY (default: example) into cdktf.out/ (LOSTOPS_CDK=cdktf|cdktn)
	$(CDK) synth $(CDK_APP)

.PHONY: diff deploy
diff: check-inventory ## cdktf diff (needs Azure credentials; LOSTOPS_CDK=cdktn: cdktn diff)
	$(CDK) diff network $(CDK_APP)
deploy: check-inventory ## cdktf deploy (needs Azure credentials); writes outputs.json for the salt-ssh roster
	$(CDK) deploy network $(CDK_APP) --outputs-file outputs.json

# ---------------------------------------------------------------- tests
# `make test` runs both tiers (e2e only when the unit tier passed), each with a
# JUnit report in .test-results/, and ends with one summary line per tier
# (lostops summary tests), also when a tier failed, with the components near or
# past their end of life (docs/eol.yaml) before the total.
RESULTS := .test-results
.PHONY: test test-unit
test: deps ## every test tier: unit, then end-to-end (root; installs missing Debian packages), then a summary
	@rm -rf $(RESULTS); mkdir -p $(RESULTS); rc=0; \
	$(MAKE) --no-print-directory test-unit PYTEST_ARGS='--junitxml=$(RESULTS)/unit.xml' || rc=$$?; \
	if [ $$rc -eq 0 ]; then $(MAKE) --no-print-directory e2e E2E_ARGS='$(E2E_ARGS) --junitxml=$(RESULTS)/e2e.xml' || rc=$$?; fi; \
	$(LOSTOPS) summary tests --eol $(if $(RECORD_FIGURES),--record) unit=$(RESULTS)/unit.xml e2e=$(RESULTS)/e2e.xml; \
	exit $$rc

test-unit: deps ## fast unit tier: inventory, policy, stacks, checkov, Salt renders, promtool, workflows
	@python3 scripts/deps-system --tier unit
	$(PYTEST) tests/unit $(PYTEST_ARGS)

.PHONY: snapshots
snapshots: deps ## rewrite the committed synth and mapdata snapshots (review the diff before committing)
	UPDATE_SNAPSHOTS=1 $(PYTEST) tests/unit/test_network_stack.py tests/unit/test_salt_mapdata.py -q

.PHONY: lint
lint: deps lint-salt ## ruff, yamllint, salt-lint, actionlint, zizmor, the workflow schema
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/actionlint .github/workflows/*.yml
	$(VENV)/bin/zizmor --offline .github/workflows
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

.PHONY: bench
bench: deps ## time cdktf and cdktn synth of the project vs their own one-resource azurerm app (median ratios target <= 1.15)
	$(LOSTOPS) bench-synth

.PHONY: eol-table
eol-table: deps ## rewrite the README's end-of-life table from docs/eol.yaml (the unit tier checks it)
	$(LOSTOPS) eol --write-readme

.PHONY: secrets
secrets: deps ## write pillar/secrets.yaml (0600) from LOSTOPS_SECRET_* environment variables
	$(LOSTOPS) secrets write

-include mk/*.mk

# Targets defined in mk/*.mk need the environment as well.
render lint-salt test-salt e2e bench-e2e bench-scale bench-scale-master lab: deps
