#!/usr/bin/env bash
# Regenerates the per-command reference in docs/cli.md from the binary's own --help, between the
# "<!-- help:COMMAND -->" markers. tests/cli/docs_test.cpp fails when the two drift apart.
# Usage: bash scripts/update-cli-docs.sh [path/to/selfalign]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin/selfalign}
python3 - "$bin" <<'PY'
import re, subprocess, sys
bin = sys.argv[1]
doc = open("docs/cli.md").read()
def help_of(cmd):
    args = [bin] + ([cmd, "--help"] if cmd != "selfalign" else ["--help"])
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout
def repl(m):
    return f"<!-- help:{m.group(1)} -->\n```text\n{help_of(m.group(1))}```\n<!-- /help -->"
doc = re.sub(r"<!-- help:(\w+) -->.*?<!-- /help -->", repl, doc, flags=re.S)
open("docs/cli.md", "w").write(doc)
PY
