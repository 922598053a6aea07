"""YAML specs: loading (safe, with line numbers), schema, resolution into a creation plan."""
