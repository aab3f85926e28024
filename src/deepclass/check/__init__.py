"""``deepclass check``: grade a student's own implementations of the course functions.

- ``registry``   the course names (seeds 000-002 and the course layers) and their checks
- ``*_checks``   the checks of each rung, against deepclass's own implementations
- ``discover``   which course names a file defines (read with ``ast``, never imported)
- ``child``      the child process that runs the submission, one fork per name
- ``runner``     grading files from deepclass's process: start the child, collect verdicts
- ``report``     the tables, the summary lines, JSON and CSV
- ``templates``  starter files with the course's signatures and TODO bodies

``grade_files(["my_linear.py"])`` returns one :class:`FileResult` per file.
"""

from deepclass.check.discover import Discovery, discover
from deepclass.check.registry import course_names
from deepclass.check.runner import (
    CheckResult,
    FileResult,
    FunctionResult,
    grade_file,
    grade_files,
)
from deepclass.check.templates import template, template_names

__all__ = [
    "CheckResult",
    "Discovery",
    "FileResult",
    "FunctionResult",
    "course_names",
    "discover",
    "grade_file",
    "grade_files",
    "template",
    "template_names",
]
