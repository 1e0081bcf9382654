"""Several WebUIs on one shared database, for real: worker processes (tests/shared/worker.py) that open the jobs on a
PostgreSQL database with a slow fake generator, killed with SIGKILL or stopped with SIGTERM by the tests."""
