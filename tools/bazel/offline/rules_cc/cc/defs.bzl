"""Offline stand-in for @rules_cc//cc:defs.bzl on Bazel 4.2.3: its built-in C++ rules (see ../../README.md)."""

cc_binary = native.cc_binary
cc_import = native.cc_import
cc_library = native.cc_library
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
