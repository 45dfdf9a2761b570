"""Run this interpreter's own test.test_faulthandler and write the outcome
as JSON to the file named by argv[1]: {"run": N, "failed": {test id:
traceback}, "skipped": [test ids]}.  Which faulthandler the suite meets
(CPython's or ours) is decided by the venv it runs in, not here."""
import io
import json
import sys
import unittest


def main(out_path):
    suite = unittest.defaultTestLoader.loadTestsFromName("test.test_faulthandler")
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, verbosity=2).run(suite)
    failed = {}
    for test, trace in result.failures + result.errors:
        failed[test.id()] = trace
    for test in result.unexpectedSuccesses:
        failed[test.id()] = "unexpected success"
    with open(out_path, "w") as f:
        json.dump({
            "run": result.testsRun,
            "failed": failed,
            "skipped": sorted(test.id() for test, _ in result.skipped),
            "log": stream.getvalue(),
        }, f)


if __name__ == "__main__":
    main(sys.argv[1])
