"""pytest set-up for the sshbpp Python tests: the package under test must
come from the build tree (PYTHONPATH=<build>/python), never from an
installed copy, and paramiko must be Debian's."""

import os
import sys

import sshbpp


def pytest_report_header(config):  # pylint: disable=unused-argument
    import paramiko  # pylint: disable=import-outside-toplevel
    return "sshbpp from %s; paramiko %s from %s; python %s" % (
        os.path.dirname(sshbpp.__file__), paramiko.__version__,
        os.path.dirname(paramiko.__file__), sys.version.split()[0])
