"""Demo data for cm: a small butler repository and a science-free pipeline that really runs.

``campaigns.demo.tasks`` holds the pipeline's tasks; ``campaigns.demo.repo`` builds the repo.
Nothing in this package may import Django: ``pipetask`` (and BPS jobs) import the tasks with only
the repository root on ``PYTHONPATH``.
"""
