"""admin package: the admin plane behind `functions/admin.py` (routes, CRUD, audit, OpenAPI)."""
