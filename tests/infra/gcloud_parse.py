"""Run gcloud's own argument parser over many command lines in one process.

Executed by gcloud's Python (not ours), with a fresh empty config dir: each
command line runs as `gcloud` would run it, and a well-formed one stops at the
first thing that needs credentials ("You do not currently have an active
account selected"); a malformed one stops earlier with gcloud's parse error
("unrecognized arguments", "Bad syntax for dict arg", "Invalid choice"...).
One process for all commands: ~50 ms a command instead of ~1.7 s.

Usage: python gcloud_parse.py SDK_ROOT COMMANDS.json  ->  JSON list on stdout.
"""

import contextlib
import io
import json
import os
import sys
import tempfile

sdk, commands_file = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(sdk, "lib", "third_party"))
sys.path.insert(0, os.path.join(sdk, "lib"))

from googlecloudsdk import gcloud_main  # noqa: E402

cli = gcloud_main.CreateCLI([])
with open(commands_file, encoding="utf-8") as handle:
    commands = json.load(handle)
results = []
real_stdout = os.dup(1)
for argv in commands:
    with tempfile.TemporaryFile() as captured:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        os.dup2(captured.fileno(), 1)
        code = 0
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                cli.Execute(list(argv[1:]))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            code = -1
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.dup2(real_stdout, 1)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode("utf-8", "replace")
    results.append({"argv": argv, "code": code, "output": text[-2000:]})
os.write(real_stdout, json.dumps(results).encode())
