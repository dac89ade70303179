"""Three-way merge of one function body: B, the baseline policy's hook as the
target's templates render it; T, the body the tree has; P, the policy's hook
rendered the same way. P's changes relative to B are made to T, and nothing
else: T's lines that B lacks (guards, SVE bookkeeping, AArch32 state,
comments) stay where they are.

The unit of comparison is a statement line: a line of code, with the lines
it continues onto while a parenthesis is open, compared with whitespace and
comments ignored. A mask update of several vcpu flag bits,
`vcpu->arch.flags &= ~(A | B | C);`, counts as one unit per bit, so a policy
can drop the bit it knows and keep the ones it does not; such a statement is
written back with its remaining bits.

Where P inserts code, it goes right after the tree's copy of the baseline
line that precedes it in P; with no such line (an insertion at the top), right
before the tree's copy of the baseline line that follows it, above the
comments that speak of that line, so a leading guard (`BUG_ON()`,
`WARN_ON_ONCE()`) stays first.

P's inserted statement that the tree already has between the same baseline
lines is the tree's (a guard the baseline does not speak of), and is not
written again.

A change is refused (MergeError, naming the tree's file, line and text) when it
would remove or rewrite a line the baseline did not produce: when the tree has
such a line among the baseline lines a change removes, or inside a block
whose braces the change takes away."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from fpdsl.emit.anchors import AnchorError
from fpdsl.emit.edits import Edit, Line, Origin

_COMMENT = re.compile(r"/\*.*?\*/|//.*$")
_MASK = re.compile(r"^vcpu->arch\.flags (&=|\|=) (~?)\(([A-Z0-9_ |]+)\);$")


class MergeError(AnchorError):
    """A policy's change would remove or rewrite code the baseline did not produce."""


@dataclass
class Unit:
    key: str  # the code, normalised; "" for blank lines and comments
    lines: list[Line]
    start: int = 0  # tree units: the file's line range [start, end)
    end: int = 0
    group: int | None = None  # tree units split from one mask statement
    bit: str = ""

    @property
    def code(self) -> bool:
        return bool(self.key)

    @property
    def depth(self) -> int:
        """The tabs the unit's first line is indented by."""
        text = self.lines[0].text
        return len(text) - len(text.lstrip("\t"))

    @property
    def braces(self) -> int:
        return self.key.count("{") - self.key.count("}")


def units(lines: list[Line], first_line: int = 0) -> list[Unit]:
    """Statement lines of `lines` (a function body); tree lines are numbered
    from `first_line`."""
    out: list[Unit] = []
    i = 0
    while i < len(lines):
        start = i
        text = lines[i].text.strip()
        if text.startswith("/*") and "*/" not in text:
            while i < len(lines) and "*/" not in lines[i].text:
                i += 1
            i += 1
        elif text.startswith(("/*", "//")) or not text:
            i += 1
        else:
            depth = 0
            while i < len(lines):
                code = _COMMENT.sub("", lines[i].text)
                depth += code.count("(") - code.count(")")
                i += 1
                if depth <= 0:
                    break
        chunk = lines[start:i]
        key = _key(" ".join(line.text for line in chunk))
        out.extend(_split_mask(Unit(key, chunk, first_line + start, first_line + i)))
    return out


def _key(text: str) -> str:
    code = _COMMENT.sub(" ", text)
    code = re.sub(r"\s+", " ", code).strip()
    return re.sub(r"\( ", "(", re.sub(r" \)", ")", code))


_groups = iter(range(1, 1 << 30))


def _split_mask(unit: Unit) -> list[Unit]:
    m = _MASK.match(unit.key)
    if not m:
        return [unit]
    op, neg, bits = m.group(1), m.group(2), [b.strip() for b in m.group(3).split("|")]
    group = next(_groups)
    return [Unit(f"vcpu->arch.flags {op} {neg}{bit};", unit.lines, unit.start, unit.end, group, bit) for bit in bits]


def _mask_text(unit: Unit, bits: list[str], indent: str) -> list[str]:
    """A mask statement with only `bits` left, kernel style."""
    m = _MASK.match(_key(" ".join(line.text for line in unit.lines)))
    assert m is not None
    op, neg = m.group(1), m.group(2)
    if len(bits) == 1:
        return [f"{indent}vcpu->arch.flags {op} {neg}{bits[0]};"]
    head = f"{indent}vcpu->arch.flags {op} {neg}("
    col = 8 * indent.count("\t") + len(head) - len(indent)
    lead = "\t" * (col // 8) + " " * (col % 8)
    rows = [f"{head}{bits[0]} |"]
    rows += [f"{lead}{b} |" for b in bits[1:-1]]
    rows.append(f"{lead}{bits[-1]});")
    return rows


@dataclass
class _Plan:
    removed: dict[int, Origin] = field(default_factory=dict)  # tree unit index -> baseline line it was
    # (tree unit index, before?) -> lines, in order
    inserts: list[tuple[int, bool, list[Line]]] = field(default_factory=list)
    replaces: dict[int, list[Line]] = field(default_factory=dict)  # first removed unit -> what replaces it


def merge(
    path: str, tree: list[str], start: int, end: int, base: list[Line], mine: list[Line], drop_comments: bool = False
) -> list[Edit]:
    """The edits that make P's changes relative to B to lines [start, end)
    of the tree file `path` (its lines `tree`). `drop_comments`: a comment
    right above a statement the change removes goes with it (it spoke of
    that statement)."""
    t_units = units([Line(t, None) for t in tree[start:end]], start)
    t_code = [i for i, u in enumerate(t_units) if u.code]
    b_code = [u for u in units(base) if u.code]
    p_items = _items(units(mine))
    bt = difflib.SequenceMatcher(None, [u.key for u in b_code], [t_units[i].key for i in t_code], autojunk=False)
    to_tree: dict[int, int] = {}
    for block in bt.get_matching_blocks():
        for k in range(block.size):
            to_tree[block.a + k] = t_code[block.b + k]
    # B against P: a line P nests differently is a change too.
    bp = difflib.SequenceMatcher(
        None, [(u.depth, u.key) for u in b_code], [(u.depth, u.key) for u, _ in p_items], autojunk=False
    )
    plan = _Plan()
    for tag, i1, i2, j1, j2 in bp.get_opcodes():
        if tag == "equal":
            continue
        lines = [line for _, lead in p_items[j1:j2] for line in lead]
        missing = next((i for i in range(i1, i2) if i not in to_tree), None)
        if missing is not None:
            # The tree is not what the baseline says here: a change made
            # by position alone could leave the old code in place.
            text = b_code[missing].lines[0].text.strip()
            raise MergeError(
                f"{path}:{start + 1}: the tree has no '{text}', which the baseline policy produces here and the "
                "policy's change removes or rewrites; nothing was written"
            )
        gone = sorted(to_tree[i] for i in range(i1, i2))
        # P is written at B's nesting; the tree may nest B's line deeper.
        anchor = next((i for i in (i1, i1 - 1) if i in to_tree), None)
        if anchor is not None:
            lines = _shift(lines, t_units[to_tree[anchor]].depth - b_code[anchor].depth)
        for i in range(i1, i2):
            plan.removed[to_tree[i]] = _origin(b_code[i])
        if gone:
            _refuse_foreign(path, t_units, gone, to_tree, lines)
            if lines and t_units[gone[0]].group is None:
                plan.replaces[gone[0]] = lines
            elif lines:
                plan.inserts.append((gone[0], True, lines))
        elif lines:
            lines = _not_there(p_items[j1:j2], t_units, to_tree, i1, len(b_code))
            if not lines:
                continue
            if i1 > 0 and i1 - 1 in to_tree:
                plan.inserts.append((to_tree[i1 - 1], False, lines))
            elif i1 < len(b_code) and i1 in to_tree:
                plan.inserts.append((to_tree[i1], True, lines))
            else:
                raise MergeError(f"{path}:{start + 1}: no line of the baseline's code to place the policy's code by")
    if drop_comments:
        # The statement's removal starts at its comment (one edit: a removal
        # of comment lines alone would be left out as layout).
        for i in sorted(plan.removed):
            if t_units[i].code and i > 0 and _is_comment(t_units[i - 1]) and i - 1 not in plan.removed:
                t_units[i].start = t_units[i - 1].start
                t_units[i - 1].end = t_units[i - 1].start
    _drop_orphan_blanks(t_units, plan)
    return _edits(path, t_units, plan)


def _not_there(items: list, t: list[Unit], to_tree: dict[int, int], i1: int, n_base: int) -> list[Line]:
    """The lines of P's inserted `items` that the tree does not already have
    where they go: a statement the baseline does not produce but the tree
    has between the same baseline lines (a guard such as
    `WARN_ON_ONCE(!irqs_disabled());`) is the tree's code, not new code."""
    lo = to_tree[i1 - 1] + 1 if i1 > 0 and i1 - 1 in to_tree else 0
    hi = to_tree[i1] if i1 < n_base and i1 in to_tree else len(t)
    mapped = set(to_tree.values())
    there = [t[k].key for k in range(lo, hi) if t[k].code and k not in mapped]
    lines: list[Line] = []
    for unit, lead in items:
        if unit.key in there:
            there.remove(unit.key)
        else:
            lines.extend(lead)
    return lines


def _is_comment(unit: Unit) -> bool:
    return not unit.code and unit.lines[0].text.strip().startswith(("/*", "//"))


def _shift(lines: list[Line], delta: int) -> list[Line]:
    """`lines` indented `delta` tabs further in (or out)."""
    if delta == 0:
        return lines
    out = []
    for line in lines:
        text = line.text
        if text.strip():
            text = "\t" * delta + text if delta > 0 else text[min(-delta, len(text) - len(text.lstrip("\t"))) :]
        out.append(Line(text, line.origin))
    return out


def _items(us: list[Unit]) -> list[tuple[Unit, list[Line]]]:
    """P's code units, each with the comments and blank lines before it."""
    out: list[tuple[Unit, list[Line]]] = []
    lead: list[Line] = []
    for u in us:
        if not u.code:
            lead.extend(u.lines)
            continue
        if u.group is not None and out and out[-1][0].group == u.group:
            continue  # P's own mask statement: one item
        out.append((u, [*lead, *u.lines]))
        lead = []
    return out


def _origin(unit: Unit) -> Origin:
    origin = unit.lines[0].origin
    return origin if origin is not None else Origin("", 0, "baseline")


def _refuse_foreign(path: str, t: list[Unit], gone: list[int], to_tree: dict[int, int], lines: list[Line]) -> None:
    mapped = set(to_tree.values())
    for i in range(gone[0], gone[-1] + 1):
        if t[i].code and i not in mapped:
            _fail(path, t[i], "the policy's change would remove or rewrite it")
    # Braces the change takes away: the block they open or close must hold
    # baseline code only.
    taken = sum(t[i].braces for i in sorted(set(gone)) if t[i].group is None)
    added = sum(u.braces for u in units(lines))  # whole units: a comment's text has no braces
    if taken == added:
        return
    for i in gone:
        if t[i].braces > 0:
            lo, hi = i, _block_end(t, i)
        elif t[i].braces < 0:
            lo, hi = _block_start(t, i), i
        else:
            continue
        for k in range(lo, hi + 1):
            if t[k].code and k not in mapped:
                _fail(path, t[k], "the policy's change takes away the braces of the block that holds it")


def _block_end(t: list[Unit], i: int) -> int:
    depth = 0
    for k in range(i, len(t)):
        depth += t[k].braces
        if depth <= 0:
            return k
    return len(t) - 1


def _block_start(t: list[Unit], i: int) -> int:
    depth = 0
    for k in range(i, -1, -1):
        depth += t[k].braces
        if depth >= 0 and k != i:
            return k
    return 0


def _fail(path: str, unit: Unit, why: str) -> None:
    raise MergeError(
        f"{path}:{unit.start + 1}: '{unit.lines[0].text.strip()}' is not code the baseline policy produced, "
        f"and {why}; nothing was written"
    )


def _drop_orphan_blanks(t: list[Unit], plan: _Plan) -> None:
    """A blank line between two removed statements (or between one and the
    body's edge) goes with them."""
    code = [i for i, u in enumerate(t) if u.code]
    for i, u in enumerate(t):
        if u.code or u.lines[0].text.strip():
            continue
        near = [k for k in code if k < i][-1:] + [k for k in code if k > i][:1]
        if near and all(k in plan.removed for k in near):
            plan.removed[i] = plan.removed[near[0]]


def _edits(path: str, t: list[Unit], plan: _Plan) -> list[Edit]:
    edits: list[Edit] = []
    order = 0
    before_at: dict[int, list[list[Line]]] = {}
    after_at: dict[int, list[list[Line]]] = {}
    for i, first, lines in plan.inserts:
        (before_at if first else after_at).setdefault(i, []).append(lines)
    done_groups: set[int] = set()
    for i, u in enumerate(t):
        if u.group is not None:
            if u.group in done_groups:
                continue
            done_groups.add(u.group)
            members = [k for k, v in enumerate(t) if v.group == u.group]
            edits.extend(_group_edits(path, t, members, plan, before_at, after_at, order))
            order += 10
            continue
        for lines in before_at.get(i, []):
            at = _above_comments(t, i)
            edits.append(Edit(path, at, at, lines, _first_origin(lines), order))
            order += 1
        if i in plan.removed:
            edits.append(Edit(path, u.start, u.end, plan.replaces.get(i, []), plan.removed[i], order))
            order += 1
        for lines in after_at.get(i, []):
            edits.append(Edit(path, u.end, u.end, lines, _first_origin(lines), order))
            order += 1
    return _coalesce(edits, t)


def _above_comments(t: list[Unit], i: int) -> int:
    """Where code inserted before unit `i` goes: above the comments right
    over it, which speak of it."""
    at = t[i].start
    k = i - 1
    while k >= 0 and _is_comment(t[k]) and t[k].end == at:
        at = t[k].start
        k -= 1
    return at


def _coalesce(edits: list[Edit], t: list[Unit]) -> list[Edit]:
    """A removed blank line joins the removal next to it (a blank line
    alone is layout, which the hunks leave out); in a run of adjacent
    removals, the new lines come after all the removed ones, as a diff
    shows them."""
    blank = {u.start for u in t if not u.code and not u.lines[0].text.strip()}
    edits = sorted(edits, key=lambda e: (e.start, e.end, e.order))
    cuts = [e for e in edits if e.start < e.end]
    for e in [e for e in cuts if e.end - e.start == 1 and e.start in blank and not e.lines]:
        left = next((c for c in cuts if c is not e and c.end == e.start), None)
        right = next((c for c in cuts if c is not e and c.start == e.end), None)
        if left is not None:
            left.end = e.end
        elif right is not None:
            right.start = e.start
        else:
            continue
        cuts.remove(e)
        edits.remove(e)
    run: list[Edit] = []
    for e in [*cuts, None]:
        if e is not None and run and run[-1].end == e.start:
            run.append(e)
            continue
        if len(run) > 1:
            lines = [line for r in run for line in r.lines]
            for r in run:
                r.lines = []
            run[-1].lines = lines
        run = [e] if e is not None else []
    return edits


def _group_edits(
    path: str,
    t: list[Unit],
    members: list[int],
    plan: _Plan,
    before_at: dict[int, list[list[Line]]],
    after_at: dict[int, list[list[Line]]],
    order: int,
) -> list[Edit]:
    """The edits of one mask statement split into `members`: insertions
    around it, and the statement written again with the bits left."""
    unit = t[members[0]]
    indent = unit.lines[0].text[: len(unit.lines[0].text) - len(unit.lines[0].text.lstrip())]
    before = [lines for k in members for lines in before_at.get(k, [])]
    after = [lines for k in members for lines in after_at.get(k, [])]
    gone = [k for k in members if k in plan.removed]
    out = [Edit(path, unit.start, unit.start, lines, _first_origin(lines), order + n) for n, lines in enumerate(before)]
    if gone:
        left = [t[k].bit for k in members if k not in plan.removed]
        text = _mask_text(unit, left, indent) if left else []
        why = plan.removed[gone[0]]
        out.append(Edit(path, unit.start, unit.end, [Line(s, why) for s in text], why, order + 5))
    out += [Edit(path, unit.end, unit.end, lines, _first_origin(lines), order + 6 + n) for n, lines in enumerate(after)]
    return out


def _first_origin(lines: list[Line]) -> Origin:
    return next((line.origin for line in lines if line.origin is not None), Origin("", 0, "policy"))
