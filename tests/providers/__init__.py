"""Provider adapters against a real aimock."""
