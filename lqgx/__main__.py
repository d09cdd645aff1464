"""``python -m lqgx``: the ``lqgx`` command line (``lqgx.cli``)."""

from lqgx.cli import main

if __name__ == "__main__":
    main()
