"""Entry point for Bazel py_test targets: runs pytest on the module paths given as arguments."""

import sys

import pytest

if __name__ == "__main__":
    sys.exit(pytest.main(sys.argv[1:]))
