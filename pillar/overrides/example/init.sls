# Example inventory only (LOSTOPS_INVENTORY=example, `make render`, unit tests):
# render the backend as if release 0.1.0 were being deployed. Production takes
# app:version from the release job or keeps the deployed one (pillar/app.sls).
app:
  version: 0.1.0
