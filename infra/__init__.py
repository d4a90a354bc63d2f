"""Per-tenant deployment to Google Cloud with gcloud (SPEC §9).

`python -m infra.deploy --help` lists the commands; `DRY_RUN=1` prints every
gcloud command without running it. See docs/deploy.md.
"""
