"""Reach the admin plane over HTTP: the route table, a request's context, the bodies, the OpenAPI document."""
