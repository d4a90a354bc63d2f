"""Edit a tenant's config records: CRUD, cross-record rules, revisions and rollback, YAML import/export."""
