"""Try providers before chat uses them: write and check code providers, test a provider, the playground."""
