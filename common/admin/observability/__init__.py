"""See what happened: the audit log of every change and the token, request and cost usage."""
