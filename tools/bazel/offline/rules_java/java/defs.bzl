"""Offline stand-in for @rules_java//java:defs.bzl on Bazel 4.2.3: its built-in Java rules (see ../../README.md)."""

java_binary = native.java_binary
java_import = native.java_import
java_library = native.java_library
java_runtime = native.java_runtime
java_toolchain = native.java_toolchain
