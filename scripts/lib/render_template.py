"""Write a configuration file from a template under scripts/ with ${NAME} placeholders.

    render_template.py TEMPLATE OUT NAME=VALUE...      (OUT "-": standard output)

Only the names given on the command line are substituted, and every placeholder of the template
must be one of them: a template that names a value the script does not pass is an error, never an
empty string in a generated configuration. `$$` stands for a literal `$`. The file is written
next to OUT and renamed into place, so a reader never sees half of it.
"""

import os
import string
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: render_template.py TEMPLATE OUT NAME=VALUE...", file=sys.stderr)
        return 2
    template_path, out = argv[0], argv[1]
    values = {}
    for pair in argv[2:]:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            print(
                f"render_template.py: expected NAME=VALUE, got {pair!r}",
                file=sys.stderr,
            )
            return 2
        values[name] = value
    with open(template_path, encoding="utf-8") as f:
        template = string.Template(f.read())
    try:
        text = template.substitute(values)
    except KeyError as missing:
        print(
            f"render_template.py: {template_path} uses ${{{missing.args[0]}}}, which was not given",
            file=sys.stderr,
        )
        return 1
    except ValueError as bad:
        print(f"render_template.py: {template_path}: {bad}", file=sys.stderr)
        return 1
    if out == "-":
        sys.stdout.write(text)
        return 0
    tmp = f"{out}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
