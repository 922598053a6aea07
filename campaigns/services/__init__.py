"""The only code that changes cm's state: every entry point (CLI, admin, API, pages, tasks) calls it."""
