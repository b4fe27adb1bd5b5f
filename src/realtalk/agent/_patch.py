"""The ``apply_patch`` format: parsing, and computing new file contents (pure).

Grammar (reference 5)::

    patch  = "*** Begin Patch" LF {hunk} "*** End Patch" [LF]
    hunk   = add | delete | update
    add    = "*** Add File: " path LF {"+" text LF}
    delete = "*** Delete File: " path LF
    update = "*** Update File: " path LF ["*** Move to: " path LF] chunk {chunk}
    chunk  = ("@@" | "@@ " ctx) LF {dline} ["*** End of File" LF]  (1st chunk may omit @@)
    dline  = (" " | "+" | "-") text LF | LF                       (empty line = "" context)

Leniency as in the reference: the text is trimmed, a ``<<'EOF'`` ... ``EOF``
heredoc wrapper is removed, blank lines between hunks are skipped.

Matching, per updated file, chunks in order with a cursor from line 0: ``@@ ctx``
moves the cursor past the first line equal to ``ctx``; a chunk without old lines
is appended at the end of the file; otherwise its old lines are searched from
the cursor (``*** End of File``: at the end only) in four passes: exact, then
ignoring trailing whitespace, then surrounding whitespace, then also Unicode
dashes, quotes and spaces. Old lines ending in an empty line are retried without
it. Files with CRLF line ends keep them. The result ends with one newline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "AddFile",
    "DeleteFile",
    "PatchError",
    "PatchParseError",
    "UpdateChunk",
    "UpdateFile",
    "apply_chunks",
    "parse_patch",
]

BEGIN: Final = "*** Begin Patch"
END: Final = "*** End Patch"
_ADD: Final = "*** Add File: "
_DELETE: Final = "*** Delete File: "
_UPDATE: Final = "*** Update File: "
_MOVE: Final = "*** Move to: "
_EOF: Final = "*** End of File"
_HEREDOC_STARTS: Final = ("<<EOF", "<<'EOF'", '<<"EOF"')


class PatchError(Exception):
    """A patch cannot be applied; ``str(exc)`` is the precise reason."""


class PatchParseError(PatchError):
    """The patch text does not follow the grammar."""


@dataclass(frozen=True, slots=True)
class AddFile:
    path: str
    content: str


@dataclass(frozen=True, slots=True)
class DeleteFile:
    path: str


@dataclass(slots=True)
class UpdateChunk:
    context: str | None = None
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    end_of_file: bool = False


@dataclass(slots=True)
class UpdateFile:
    path: str
    move_to: str | None = None
    chunks: list[UpdateChunk] = field(default_factory=list)


Hunk = AddFile | DeleteFile | UpdateFile


def parse_patch(text: str) -> list[Hunk]:
    """The hunks of ``text``.

    Raises:
        PatchParseError: With the reference's wording and a 1-based line number.
    """
    lines = text.strip().split("\n")
    if len(lines) >= 2 and lines[0].strip() in _HEREDOC_STARTS and lines[-1].strip() == "EOF":
        lines = lines[1:-1]
    lines = [line.rstrip("\r") for line in lines]
    if not lines or lines[0].strip() != BEGIN:
        raise PatchParseError(
            "Invalid patch: The first line of the patch must be '*** Begin Patch'"
        )
    if lines[-1].strip() != END or len(lines) < 2:
        raise PatchParseError("Invalid patch: The last line of the patch must be '*** End Patch'")
    hunks: list[Hunk] = []
    body = lines[1:-1]
    i = 0
    while i < len(body):
        line = body[i].strip()
        number = i + 2  # "*** Begin Patch" is line 1
        if not line:
            i += 1
        elif line.startswith(_ADD):
            i += 1
            content: list[str] = []
            while i < len(body) and body[i].startswith("+"):
                content.append(body[i][1:])
                i += 1
            joined = "\n".join(content) + "\n" if content else ""
            hunks.append(AddFile(line.removeprefix(_ADD).strip(), joined))
        elif line.startswith(_DELETE):
            hunks.append(DeleteFile(line.removeprefix(_DELETE).strip()))
            i += 1
        elif line.startswith(_UPDATE):
            update = UpdateFile(line.removeprefix(_UPDATE).strip())
            i += 1
            if i < len(body) and body[i].strip().startswith(_MOVE):
                update.move_to = body[i].strip().removeprefix(_MOVE).strip()
                i += 1
            i = _parse_chunks(body, i, update)
            hunks.append(update)
        else:
            raise PatchParseError(
                f"Invalid patch hunk on line {number}: '{line}' is not a valid hunk header. "
                "Valid hunk headers: '*** Add File: {path}', '*** Delete File: {path}', "
                "'*** Update File: {path}'"
            )
    return hunks


def _parse_chunks(body: list[str], i: int, update: UpdateFile) -> int:
    """Read the chunks of ``update`` from ``body[i]``; return the index after them."""
    chunk: UpdateChunk | None = None
    while i < len(body):
        raw = body[i]
        stripped = raw.strip()
        if stripped == _EOF:
            if chunk is None:
                break
            chunk.end_of_file = True
            i += 1
            chunk = None
            continue
        if stripped.startswith("***"):
            break
        if raw.rstrip() == "@@" or raw.startswith("@@ "):
            context = raw[3:] if raw.startswith("@@ ") else None
            chunk = UpdateChunk(context=context)
            update.chunks.append(chunk)
        elif chunk is None and not update.chunks and raw[:1] in (" ", "+", "-"):
            chunk = UpdateChunk()  # the first chunk may omit its @@ line
            update.chunks.append(chunk)
            continue
        elif chunk is None:
            if not stripped:
                i += 1
                continue
            raise PatchParseError(
                f"Expected update hunk to start with a @@ context marker, got: '{raw}'"
            )
        elif raw == "" or raw[0] == " ":
            chunk.old.append(raw[1:])
            chunk.new.append(raw[1:])
        elif raw[0] == "+":
            chunk.new.append(raw[1:])
        elif raw[0] == "-":
            chunk.old.append(raw[1:])
        else:
            raise PatchParseError(
                f"Unexpected line found in update hunk: '{raw}'. Every line should start "
                "with ' ' (context line), '+' (added line), or '-' (removed line)"
            )
        i += 1
    if not update.chunks or all(not c.old and not c.new for c in update.chunks):
        raise PatchParseError(f"Update file hunk for path '{update.path}' is empty")
    return i


_PUNCTUATION: Final = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),
        **dict.fromkeys("\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "),
    }
)  # fmt: skip

_PASSES: Final[tuple[Callable[[str], str], ...]] = (
    lambda s: s,
    str.rstrip,
    str.strip,
    lambda s: s.strip().translate(_PUNCTUATION),
)


def _seek(lines: list[str], pattern: list[str], start: int, *, eof: bool) -> int | None:
    if not pattern:
        return start
    if len(pattern) > len(lines):
        return None
    first = len(lines) - len(pattern) if eof else start
    for norm in _PASSES:
        wanted = [norm(p) for p in pattern]
        for at in range(max(first, 0), len(lines) - len(pattern) + 1):
            if all(norm(lines[at + k]) == wanted[k] for k in range(len(pattern))):
                return at
    return None


def apply_chunks(path: str, original: str, chunks: list[UpdateChunk]) -> str:
    """``original`` with ``chunks`` applied.

    Raises:
        PatchError: A context line or the old lines of a chunk are not found.
    """
    crlf = "\r\n" in original
    text = original.replace("\r\n", "\n") if crlf else original
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    edits: list[tuple[int, int, list[str]]] = []
    cursor = 0
    for chunk in chunks:
        if chunk.context is not None:
            at = _seek(lines, [chunk.context], cursor, eof=False)
            if at is None:
                raise PatchError(f"Failed to find context '{chunk.context}' in {path}")
            cursor = at + 1
        if not chunk.old:
            edits.append((len(lines), 0, list(chunk.new)))
            continue
        old, new = chunk.old, chunk.new
        at = _seek(lines, old, cursor, eof=chunk.end_of_file)
        if at is None and old[-1] == "":
            old = old[:-1]
            new = new[:-1] if new and new[-1] == "" else new
            at = _seek(lines, old, cursor, eof=chunk.end_of_file)
        if at is None:
            raise PatchError(f"Failed to find expected lines in {path}:\n" + "\n".join(chunk.old))
        edits.append((at, len(old), list(new)))
        cursor = at + len(old)
    for at, count, new in sorted(edits, key=lambda e: e[0], reverse=True):
        lines[at : at + count] = new
    result = "\n".join(lines) + "\n" if lines else ""
    return result.replace("\n", "\r\n") if crlf else result
