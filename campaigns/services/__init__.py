"""The only code that changes cm state; the CLI, admin, API, pages and tasks all call it."""
