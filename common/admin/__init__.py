"""The admin plane behind `functions/admin.py`, one subpackage per operator task.

`api` (routes, OpenAPI), `records` (config editing), `accounts` (tenants, users,
client keys), `providers` (code providers, playground), `observability` (audit,
usage) and `ui` (the panel's static files).
"""
