# Salt targets (included by the Makefile: include mk/*.mk; standalone:
# make -f mk/salt.mk <target>).
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
LOSTOPS ?= $(VENV)/bin/lostops
SALT_LINT ?= $(VENV)/bin/salt-lint
YAMLLINT ?= $(VENV)/bin/yamllint
INVENTORY ?= $(or $(LOSTOPS_INVENTORY),example)

# Every .sls (Jinja and #!py included) goes through salt-lint; plain YAML
# (*.yaml, *.yml, pillar.example, *.sls without Jinja markers or a #!
# renderer line; Jinja templates are not YAML yet) through yamllint.
SALT_SLS = $(shell find salt pillar -name '*.sls' | sort)
SALT_YAML = $(shell find salt pillar \( -name '*.sls' -o -name '*.yaml' -o -name '*.yml' -o -name 'pillar.example' \) \
	| sort | xargs grep -L -e '{[{%#]' -e '^\#!')

.PHONY: render lint-salt test-salt

render: ## each host's highstate (Salt's state.show_highstate) -> render/<host>.json (INVENTORY=example|lab|...)
	$(LOSTOPS) render --inventory $(INVENTORY)

lint-salt: ## salt-lint on salt/ and pillar/ .sls files, yamllint (.yamllint) on their plain YAML
	$(SALT_LINT) $(SALT_SLS)
	$(YAMLLINT) --strict -c .yamllint $(SALT_YAML)

test-salt: ## only the Salt unit tests (render, roster, firewall in a netns, lint)
	$(PYTHON) -m pytest -q tests/unit/test_salt_render.py tests/unit/test_roster.py tests/unit/test_salt_firewall.py tests/unit/test_salt_lint.py
