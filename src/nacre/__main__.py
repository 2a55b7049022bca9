"""``python -m nacre`` runs the CLI."""

from nacre.cli import main

if __name__ == "__main__":
    main()
