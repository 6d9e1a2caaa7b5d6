# Pictures drawn from the inventory (included by the Makefile: include mk/*.mk).
# Needs Graphviz's `dot` to draw (Debian package graphviz); --check does not.
VENV ?= .venv
LOSTOPS ?= $(VENV)/bin/lostops
# Every inventory with a committed docs/access-<name>.svg. INVENTORY=<name|path>
# (command line or environment) or LOSTOPS_INVENTORY selects one instead.
ACCESS_PICTURES ?= example lab
ACCESS_INVENTORIES = $(or $(if $(filter command line environment,$(origin INVENTORY)),$(INVENTORY)),$(LOSTOPS_INVENTORY),$(ACCESS_PICTURES))

.PHONY: access-picture access-picture-check

access-picture: deps ## draw the access policy as SVG: docs/access-<inventory>.svg (INVENTORY=name|path, default: each committed one)
	@for inv in $(ACCESS_INVENTORIES); do $(LOSTOPS) access-picture --inventory "$$inv" || exit $$?; done

access-picture-check: deps ## fail (one line) when a committed docs/access-*.svg no longer matches its inventory
	@for inv in $(ACCESS_INVENTORIES); do $(LOSTOPS) access-picture --inventory "$$inv" --check || exit $$?; done
