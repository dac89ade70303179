"""Properties of emission that hold for any policy text, for the fuzzers:
a policy's free text (its `##` comments and description) cannot change the
C an emitted patch adds, only comments; every comment the patch adds says
what the policy's `##` lines say; every call and member the patch adds is
one the layout's templates write (or a policy flag's field); no flag
becomes a C keyword; `check --target` says exactly what emission refuses
(tree-only refusals aside)."""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path

import tree_sitter_c
from tree_sitter import Language, Parser

from fpdsl.diagnostics import FpdslError, UsageError
from fpdsl.emit.anchors import AnchorError
from fpdsl.emit.codegen import TEMPLATE_DIRS
from fpdsl.emit.identifiers import C_KEYWORDS
from fpdsl.emit.legality import target_problems
from fpdsl.emit.plan import plan
from fpdsl.emit.targets import detect_target
from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import load_policy
from fpdsl.resources import resource_dir

_PARSER = Parser(Language(tree_sitter_c.language()))
_DOC = re.compile(r"^(\s*)##.*$", re.M)


def c_tokens(text: str) -> tuple[list[str], list[str]]:
    """The C tokens of `text` without comments, and its comments' words."""
    tree = _PARSER.parse(text.encode("utf-8"))
    tokens: list[str] = []
    comments: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "comment":
            comments.append(node.text.decode("utf-8", "replace"))
            continue
        if node.child_count == 0:
            tokens.append(node.text.decode("utf-8", "replace"))
        stack.extend(reversed(node.children))
    return tokens, comments


def calls_and_members(text: str) -> tuple[Counter, Counter]:
    """The names the C in `text` calls, and the struct members it names."""
    calls: Counter = Counter()
    members: Counter = Counter()
    stack = [_PARSER.parse(text.encode("utf-8")).root_node]
    while stack:
        node = stack.pop()
        if node.type == "call_expression":
            fn = node.child_by_field_name("function")
            if fn is not None and fn.type == "identifier":
                calls[fn.text.decode()] += 1
        elif node.type == "field_identifier":
            members[node.text.decode()] += 1
        stack.extend(node.children)
    return calls, members


@functools.cache
def template_vocabulary(template_dir: str) -> frozenset[str]:
    """Every identifier fpdsl's templates for a layout can write: the
    emitted C may call and name only these (and the policy's flags)."""
    root = resource_dir("templates")
    words: set[str] = set()
    for folder in (template_dir, "common"):
        for path in sorted((root / folder).glob("*.j2")):
            words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", path.read_text()))
    return frozenset(words)


# Refusals only a tree can give (check --target leaves them to emit-patch).
TREE_ONLY = ("which struct kvm_vcpu_arch already has", "which the preprocessor replaces")


def target_disagreement(policy_file: Path, tree: Path) -> list[str]:
    """How `check --target` differs from what emission does on `tree`."""
    target = detect_target(tree)
    try:
        resolved = check_or_raise(load_policy(policy_file))
    except FpdslError:
        return []  # the checker refuses it: nothing is emitted
    said = [d.message for d in target_problems(resolved, target)]
    try:
        plan(resolved, tree, target)
    except (AnchorError, UsageError):
        return []
    except FpdslError as exc:
        message = exc.diagnostics[0].message
        if any(words in message for words in TREE_ONLY) or message in said:
            return []
        return [f"emission refuses {message!r}, check --target {target.name} says {said[:3]}"]
    return [f"emits for {target.name}, but check --target says {said[:3]}"] if said else []


@functools.cache
def template_comment_words(template_dir: str) -> frozenset[str]:
    """The words of the comments fpdsl's templates write for a layout: the
    emitted patch may keep one of them where the tree's own comment would
    otherwise stay, depending on how the policy's comments line up."""
    root = resource_dir("templates")
    words: set[str] = set()
    for folder in (template_dir, "common"):
        for path in sorted((root / folder).glob("*.j2")):
            for comment in re.findall(r"/\*(.*?)\*/", path.read_text(), re.S):
                words.update(comment.replace("*", " ").split())
    return frozenset(words)


def emitted(policy_file: Path, tree: Path) -> dict[str, str] | str:
    """The patched text of every file the policy changes, or why it was refused."""
    try:
        resolved = check_or_raise(load_policy(policy_file))
        emission = plan(resolved, tree, detect_target(tree))
    except FpdslError as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    files: dict[str, str] = {}
    for change in emission.changes:  # a series changes a file once per patch, in order
        files[change.path] = change.new_text
    return files


def neutral_text(text: str) -> str:
    """The same policy with every `##` comment saying only "x"."""
    return _DOC.sub(lambda m: f"{m.group(1)}## x", text)


def emission_problems(text: str, tree: Path, work: Path) -> list[str]:
    """What is wrong with emitting policy `text` against `tree` (empty: nothing)."""
    hostile, neutral = work / "hostile.fp", work / "neutral.fp"
    hostile.write_text(text)
    neutral.write_text(neutral_text(text))
    a, b = emitted(hostile, tree), emitted(neutral, tree)
    disagreement = target_disagreement(hostile, tree)
    if disagreement:
        return disagreement
    if isinstance(a, str) or isinstance(b, str):
        text_rule = isinstance(a, str) and ("'##' comment may not" in a or "description may not" in a)
        if isinstance(a, str) != isinstance(b, str) and not text_rule:
            return [f"comments decide whether it emits: {a if isinstance(a, str) else b}"]
        return []
    problems: list[str] = []
    if sorted(a) != sorted(b):
        problems.append(f"comments change which files are touched: {sorted(a)} vs {sorted(b)}")
    docs = " ".join(line.strip()[2:] for line in text.splitlines() if line.strip().startswith("##"))
    words = set(docs.replace("*", " ").split())
    for path in sorted(set(a) & set(b)):
        code_a, comments_a = c_tokens(a[path])
        code_b, comments_b = c_tokens(b[path])
        if code_a != code_b:
            problems.append(f"{path}: the policy's comments changed its C tokens")
        # The comments fpdsl writes itself are those of the neutral policy's
        # patch too; every other added comment must be the policy's words.
        original = (tree / path).read_text() if (tree / path).is_file() else ""
        known = set(c_tokens(original)[1]) | set(comments_b)
        for comment in set(comments_a) - known:
            body = comment.replace("/*", " ").replace("*/", " ").replace("*", " ").split()
            name = detect_target(tree).name
            own = template_comment_words(TEMPLATE_DIRS.get(name, name))
            stray = [w for w in body if w not in words and w not in own]
            if stray:
                problems.append(f"{path}: added comment with words the policy did not write: {stray[:5]}")
    name = detect_target(tree).name
    vocabulary = template_vocabulary(TEMPLATE_DIRS.get(name, name))
    flags = {f.lower() for f in re.findall(r"^flag\s+(\w+)", text, re.M)}
    for path in sorted(a):
        original = (tree / path).read_text() if (tree / path).is_file() else ""
        old_calls, old_members = calls_and_members(original)
        new_calls, new_members = calls_and_members(a[path])
        stray = sorted(set(new_calls - old_calls) - vocabulary)
        if stray:
            problems.append(f"{path}: adds calls no template writes: {stray[:5]}")
        stray = sorted(set(new_members - old_members) - vocabulary - flags)
        if stray:
            problems.append(f"{path}: adds members no template or flag names: {stray[:5]}")
    code = "\n".join(a.values())
    for flag in re.findall(r"^flag\s+(\w+)", text, re.M):
        field = flag.lower()
        if field in C_KEYWORDS and re.search(rf"->arch\.{field}\b|\bbool {field};", code):
            problems.append(f"flag {flag} became the C keyword {field}")
    return problems
