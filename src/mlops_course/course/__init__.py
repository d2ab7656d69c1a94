"""The course machinery: what runs, records and grades the lessons.

Kept apart from the house-price system that the lessons build (``data``,
``features``, ``pipeline``, ``versioning``, ...): the system never imports
from here, and nothing here knows a lesson's topic.

- ``lessons``       the lesson runner (papermill) and the course summary
- ``results``       ``record_metrics()``: a lesson's key results, read back by the runner
- ``exercises``     the exercise format and the student-notebook generator
- ``autograde``     the sandboxed grader
- ``local_server``  run a lesson's WSGI app on 127.0.0.1 for a ``with`` block
"""
