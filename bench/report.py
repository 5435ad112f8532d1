"""Shared by the bench scripts: print a block of figures and append it to
the results file."""


def emit(lines, out):
    text = "\n".join(lines) + "\n"
    print(text, end="")
    with open(out, "a") as f:
        f.write(text)
