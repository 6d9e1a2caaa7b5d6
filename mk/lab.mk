# The whole platform on this machine (included by the Makefile: include
# mk/*.mk). `make lab` is the README's third path after `make synth` and
# `make test`: "see it run". Root, like the end-to-end tier; see docs/lab.md.
.PHONY: lab lab-down

lab: e2e-preflight tools/azurite/node_modules/.synced ## boot the 3 lab hosts, converge them like production, leave them running and print what to open (root)
	@$(E2E_PYTHON) -m tests.e2e.labup up

lab-down: ## remove the lab: hosts, bridge, outer services; then check that nothing is left (root)
	@$(E2E_PYTHON) -m tests.lab.labctl down >/dev/null 2>&1 || true
	@$(E2E_PYTHON) -m tests.lab.labctl check-clean
