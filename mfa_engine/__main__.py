"""``python -m mfa_engine`` runs the ``mfa`` command line."""

from mfa_engine.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
