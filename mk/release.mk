# Release, deploy and drift steps (included by the Makefile: include mk/*.mk).
# Every step of .github/workflows/release.yml and drift.yml that touches hosts
# or state is one of these targets, with its inputs in environment variables,
# so the same commands run from a laptop, from CI and from the lab rehearsal.
# See docs/releasing.md ("Steps as make targets").
#
#   inputs                      used by
#   LOSTOPS_INVENTORY           all (default: example)
#   LOSTOPS_JIT_IP              release-access-open/-close (lostops jit runner-ip)
#   LOSTOPS_JIT_TTL             release-access-open (default 30m, at most 3h)
#   LOSTOPS_JIT_CHANNEL         azure (default) | exec (lab: LOSTOPS_JIT_EXEC, no NSG)
#   LOSTOPS_JIT_RUN             the run's tag in the NSG rule name (default GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT)
#   LOSTOPS_SSH_KEY             salt-ssh key file; LOSTOPS_SSH_PRIVATE_KEY: its content
#   LOSTOPS_SECRET_*            release-secrets (lostops secrets write)
#   APP_VERSION, APP_DIGEST     release-guard, release-rollout
#   RELEASE_TAG_WITHOUT_DIGEST  release-rollout: a reason to deploy a tag without a digest (refused otherwise)
#   TF_LOCK_TIMEOUT             release-network, drift-network: wait for the state lock (default 20m)
#   RELEASE_BACKUP              release-rollout: false skips the fresh database backup
#   FORCE                       release-guard: true allows an older version
VENV ?= .venv
DEPLOY_LOSTOPS := $(VENV)/bin/lostops
RELEASE_SUMMARY ?= -
ROLLOUT_LOG ?= rollout.log
APP_SRC ?= ../lostops-app
APP_IMAGE ?= lostops-app:local

TF_LOCK_TIMEOUT ?= 20m

.PHONY: deps-deploy release-network release-access-open release-access-close release-access-check \
	release-secrets release-guard release-rollout release-rollout-log release-cleanup \
	drift-network drift-leftovers drift-hosts drift-report app-image lint-dockerfile

# cdktf runs terraform plan/apply; with a shared remote state a deploy and a
# drift check from another repository (concurrency groups hold per repository)
# can meet: wait for the state lock instead of failing at once.
release-network drift-network: export TF_CLI_ARGS_plan = -lock-timeout=$(TF_LOCK_TIMEOUT)
release-network drift-network: export TF_CLI_ARGS_apply = -lock-timeout=$(TF_LOCK_TIMEOUT)

# The deploy jobs install only the runtime packages (no dev tools, no checkov
# venv) and no cache: they hold production credentials.
$(VENV)/.synced-deploy: Pipfile.lock pyproject.toml
	@command -v pipenv >/dev/null || python3 -m pip install --quiet pipenv
	pipenv sync
	@touch $@

deps-deploy: $(VENV)/.synced-deploy $(CDK_DEPS) ## runtime packages only (pipenv sync without dev, npm ci): what the deploy jobs install

release-network: deps-deploy ## cdktf deploy of the committed network stack (no runner address), writes outputs.json for the roster
	@$(DEPLOY_LOSTOPS) inventory check
	$(CDK) deploy network $(CDK_APP) --auto-approve --outputs-file outputs.json
	@test -s outputs.json && echo "release-network: outputs.json written"

release-access-open: deps-deploy ## just-in-time SSH for LOSTOPS_JIT_IP: NSG rule + nftables set element with a timeout (out of band)
	$(DEPLOY_LOSTOPS) jit open

release-access-close: deps-deploy ## remove the NSG rule and the set element of LOSTOPS_JIT_IP (run always)
	$(DEPLOY_LOSTOPS) jit close

release-access-check: deps-deploy ## exit 1 and list any just-in-time leftover (NSG rule, set element)
	$(DEPLOY_LOSTOPS) jit check

release-secrets: deps-deploy ## pillar/secrets.yaml from LOSTOPS_SECRET_*, and the SSH key LOSTOPS_SSH_PRIVATE_KEY to LOSTOPS_SSH_KEY (0600)
	@$(DEPLOY_LOSTOPS) secrets write
	@test -n "$$LOSTOPS_SSH_KEY" || { echo "release-secrets: LOSTOPS_SSH_KEY (path of the key file) is not set" >&2; exit 2; }
	@test -n "$$LOSTOPS_SSH_PRIVATE_KEY" || { echo "release-secrets: LOSTOPS_SSH_PRIVATE_KEY is empty" >&2; exit 2; }
	@(umask 077 && printf '%s\n' "$$LOSTOPS_SSH_PRIVATE_KEY" > "$$LOSTOPS_SSH_KEY") && chmod 600 "$$LOSTOPS_SSH_KEY"
	@echo "release-secrets: pillar/secrets.yaml and $$LOSTOPS_SSH_KEY written (0600)"

release-guard: deps-deploy ## refuse APP_VERSION older than the version the backend serves, unless FORCE=true
	@serving="$$($(DEPLOY_LOSTOPS) jit serving-version)" && \
		$(DEPLOY_LOSTOPS) release guard --serving "$$serving"

release-rollout: deps-deploy ## fresh database backup, then salt-ssh '*' state.apply with app APP_VERSION@APP_DIGEST; Markdown result to RELEASE_SUMMARY
	$(DEPLOY_LOSTOPS) release rollout --summary "$(RELEASE_SUMMARY)"

# After a failed roll-out: the firewall state may have reloaded the ruleset,
# which empties the jit_ssh set, so access is opened again first.
release-rollout-log: deps-deploy ## the backend's roll-out log (last 100 lines) to ROLLOUT_LOG
	$(DEPLOY_LOSTOPS) jit open
	$(VENV)/bin/lostops salt-ssh --out=txt backend cmd.run \
		'tail -n 100 /var/log/lostops/app-rollout.log 2>/dev/null || true' > "$(ROLLOUT_LOG)" 2>&1 || true
	@echo "release-rollout-log: $(ROLLOUT_LOG)"

release-cleanup: ## delete the secrets file, the SSH key and the raw salt output
	rm -f pillar/secrets.yaml pillar/secrets.sls salt-apply.json salt-test.json jit-before.md cdktf-diff.log "$(ROLLOUT_LOG)" \
		$${LOSTOPS_SSH_KEY:+"$$LOSTOPS_SSH_KEY"}

# outputs.json from the state (no apply), so the roster addresses the hosts
# exactly as the release and a local run do.
drift-network: deps-deploy ## cdktf diff of the committed stack against Azure -> cdktf-diff.log; outputs.json from the state
	@$(DEPLOY_LOSTOPS) inventory check
	set -o pipefail; $(CDK) diff network $(CDK_APP) 2>&1 | tee cdktf-diff.log
	$(CDK) output network $(CDK_APP) --skip-synth --outputs-file outputs.json

drift-leftovers: deps-deploy ## just-in-time leftovers BEFORE this run opens anything -> jit-before.md (drift-report fails on them)
	@$(DEPLOY_LOSTOPS) jit check > jit-before.md; rc=$$?; \
		sed 's/^## Just-in-time SSH leftovers$$/## Just-in-time SSH leftovers before this run/' jit-before.md > jit-before.md.tmp \
		&& mv jit-before.md.tmp jit-before.md; cat jit-before.md; echo "drift-leftovers: lostops jit check exited $$rc"

drift-hosts: deps-deploy ## salt-ssh '*' state.apply test=True -> salt-test.json (exit code in the report)
	$(VENV)/bin/lostops salt-ssh --out=json '*' state.apply test=True > salt-test.json; \
		echo "drift-hosts: salt-ssh exited $$?"

drift-report: ## Markdown drift report (cdktf diff + salt test + just-in-time leftovers before and after); exit 1 on any drift
	@rc=0; \
	$(DEPLOY_LOSTOPS) summary drift --mode test --cdktf-diff cdktf-diff.log salt-test.json || rc=1; \
	if [ -f jit-before.md ]; then echo; cat jit-before.md; grep -q '^None: ' jit-before.md || rc=1; fi; \
	echo; $(DEPLOY_LOSTOPS) jit check || rc=1; \
	exit $$rc

app-image: ## build the app image locally: APP_SRC=<lostops-app checkout> (docker buildx)
	docker buildx build -f app/Dockerfile --build-context recipe=app -t $(APP_IMAGE) --load $(APP_SRC)

lint-dockerfile: deps ## hadolint app/Dockerfile (also in the unit tier)
	$(VENV)/bin/hadolint app/Dockerfile
