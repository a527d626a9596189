"""absl command-line apps; the only place in the package that reads flags."""
