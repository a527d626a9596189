#!/bin/sh
# No-op coverage tool: offline stand-in (see ../README.md); coverage is not collected.
exit 0
