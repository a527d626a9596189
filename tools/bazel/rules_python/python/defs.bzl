"""Stand-in for @rules_python//python:defs.bzl: Bazel's built-in Python rules (Bazel 4 to 7). See /WORKSPACE."""

py_binary = native.py_binary
py_library = native.py_library
py_test = native.py_test
