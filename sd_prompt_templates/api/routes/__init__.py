"""The REST routes, one module per resource, composed under the prefix in api/main.py.

Every module's router uses `guard.GuardedRoute` (cross-site writes, --api-auth and out-of-range numbers are refused
before the body is read) and lists its error answers with `errors.errors()`."""
