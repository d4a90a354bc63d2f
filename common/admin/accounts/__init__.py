"""Manage who uses the service: tenants, admin users and the client keys of a tenant's apps."""
