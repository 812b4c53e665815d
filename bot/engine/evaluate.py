"""The engine: run compiled policies over files and pull-request facts, produce findings.

Pure: it takes file contents and facts in, gives findings and errors out. Each file is parsed once
per target, each condition compiled once, and one CEL context is shared by every policy that
judges the same subject. A policy that fails at evaluation produces an error, never a crash.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.engine import cel as celx
from bot.engine.globs import GlobSet
from bot.engine.model import (
    EvalError,
    Finding,
    Policy,
    PullRequestFacts,
    SourceFile,
    Subject,
    finding_order,
)
from bot.engine.targets import TARGETS, ChangeTarget, FileTarget, Target, TargetError


@dataclass(frozen=True)
class CompiledPolicy:
    policy: Policy
    target: Target
    program: Any
    match: Any
    files: GlobSet
    exclude: GlobSet | None
    reads: frozenset[str]  # the target's variables the condition mentions
    message: celx.Message  # the policy's message, split once into text and placeholders


@dataclass
class Evaluation:
    findings: list[Finding] = field(default_factory=list)
    errors: list[EvalError] = field(default_factory=list)
    files: int = 0  # files that at least one policy looked at


def compile_policy(policy: Policy, targets: dict[str, Target] = TARGETS) -> CompiledPolicy:
    """Raises CELCompileError / MatchError / KeyError; the loader turns these into load errors.

    With the standard targets the result is kept for the life of the process, keyed by the
    policy's whole content (a frozen record): the loader compiles each policy to check it and
    every check builds an Engine of the same pack, which then costs a dictionary lookup.
    """
    if targets is TARGETS:
        return _compiled(policy)
    return _compile(policy, targets)


@functools.lru_cache(maxsize=2048)
def _compiled(policy: Policy) -> CompiledPolicy:
    return _compile(policy, TARGETS)


def _compile(policy: Policy, targets: dict[str, Target]) -> CompiledPolicy:
    target = targets[policy.target]
    files = policy.files or target.default_files
    exclude = policy.exclude if policy.files else target.default_exclude + policy.exclude
    return CompiledPolicy(
        policy=policy,
        target=target,
        program=celx.compile_expression(policy.condition),
        match=target.compile_match(policy.match),
        files=GlobSet(files),
        exclude=GlobSet(exclude) if exclude else None,
        reads=_reads(policy.condition, target),
        message=celx.message(policy.message),
    )


_IDENTIFIER = re.compile(r"(?<![.\w])([A-Za-z_]\w*)")


def _reads(condition: str, target: Target) -> frozenset[str]:
    """The target's variables a condition mentions (a word in a string literal may count too:
    converting one variable more is harmless, one less would be an error)."""
    declared = set(target.variables)
    return frozenset(set(_IDENTIFIER.findall(condition)) & declared)


class Engine:
    def __init__(self, policies: Sequence[Policy], targets: dict[str, Target] = TARGETS) -> None:
        self.policies = list(policies)
        self.compiled = [compile_policy(p, targets) for p in policies]
        self._file_policies = [c for c in self.compiled if isinstance(c.target, FileTarget)]
        self._change_policies = [c for c in self.compiled if isinstance(c.target, ChangeTarget)]
        self._functions = celx.extensions_used(p.condition for p in self.policies)
        # (selection key, the policies' ids) -> what ``_choose`` found for it
        self._chosen: dict[tuple[Any, ...], Any] = {}

    def policies_for(self, path: str) -> list[CompiledPolicy]:
        # Most policies keep their target's default globs: match each distinct pair once per path.
        matched: dict[tuple[Any, ...], bool] = {}
        out = []
        for c in self._file_policies:
            key = (c.files.patterns, c.exclude.patterns if c.exclude else None)
            hit = matched.get(key)
            if hit is None:
                hit = matched[key] = c.files.matches(path) and not (
                    c.exclude is not None and c.exclude.matches(path)
                )
            if hit:
                out.append(c)
        return out

    def evaluate(
        self, files: Iterable[SourceFile], facts: PullRequestFacts | None = None
    ) -> Evaluation:
        result = Evaluation()
        # Findings repeat their messages (one policy, the same container name, many resources):
        # each distinct text is kept once, which is most of a finding's memory and pickled size.
        texts: dict[str, str] = {}
        for file in files:
            applicable = self.policies_for(file.path)
            if not applicable:
                continue
            result.files += 1
            by_target: dict[str, list[CompiledPolicy]] = defaultdict(list)
            for c in applicable:
                by_target[c.target.name].append(c)
            for compiled in by_target.values():
                target = compiled[0].target
                assert isinstance(target, FileTarget)
                try:
                    subjects = target.subjects(file)
                except TargetError as exc:
                    names = ", ".join(c.policy.id for c in compiled)
                    result.errors.append(
                        EvalError(
                            f"cannot read as {target.name}: {exc} (not checked by {names})",
                            path=file.path,
                            line=exc.line,
                        )
                    )
                    continue
                self._judge(subjects, compiled, result, texts)
        if facts is not None and self._change_policies:
            for target_name in {c.target.name for c in self._change_policies}:
                compiled = [c for c in self._change_policies if c.target.name == target_name]
                target = compiled[0].target
                assert isinstance(target, ChangeTarget)
                self._judge(list(target.change_subjects(facts)), compiled, result, texts)
        result.findings.sort(key=finding_order)
        return result

    def _judge(
        self,
        subjects: list[Subject],
        compiled: list[CompiledPolicy],
        result: Evaluation,
        texts: dict[str, str],
    ) -> None:
        target = compiled[0].target  # (``compiled`` is one target's)
        policies = tuple(map(id, compiled))  # (kept alive by ``self.compiled``)
        for subject in subjects:
            key = target.selection_key(subject)
            if key is not None:  # which policies judge it is known by its key: found once
                chosen = self._chosen.get((key, policies))
                if chosen is None:
                    chosen = self._choose(compiled, subject, (key, policies))
                chosen_policies, programs, reads = chosen
                if not chosen_policies:
                    continue
                variables = {k: v for k, v in subject.variables.items() if k in reads}
                context = celx.new_context(variables, self._functions)
                results = celx.run_all(programs, context)
                for c, outcome in zip(chosen_policies, results, strict=True):
                    if outcome is False or outcome is None or outcome == []:
                        continue  # the usual case: nothing found, nothing more to look at
                    self._apply(c, subject, outcome, result, texts)
                continue
            pairs: list[tuple[CompiledPolicy, Subject]] = []
            # Convert into CEL only the variables these conditions read: converting is most of
            # the cost, and the whole resource (`object`) is rarely needed.
            needed: set[str] = set()
            for c in compiled:
                try:
                    for selected in c.target.select(c.match, subject):
                        pairs.append((c, selected))
                        if selected is subject:
                            needed |= c.reads
                except TargetError as exc:
                    result.errors.append(
                        EvalError(
                            str(exc), path=subject.path or None, line=exc.line, policy=c.policy.id
                        )
                    )
            if not pairs:
                continue
            # The policies that judge the subject itself share one context and are evaluated
            # together (celx.run_all); a policy that selected a part of it gets its own context.
            own = [c for c, selected in pairs if selected is subject]
            outcomes: Iterator[Any] = iter(())
            if own:
                variables = {k: v for k, v in subject.variables.items() if k in needed}
                context = celx.new_context(variables, self._functions)
                outcomes = iter(celx.run_all(tuple(c.program for c in own), context))
            for c, selected in pairs:
                if selected is subject:
                    outcome = next(outcomes)  # (``own`` keeps the order of ``pairs``)
                else:
                    context = celx.new_context(selected.variables, self._functions)
                    outcome = celx.outcome(c.program, context)
                if outcome is False or outcome is None or outcome == []:
                    continue  # the usual case: nothing found, nothing more to look at
                self._apply(c, selected, outcome, result, texts)

    def _choose(
        self, compiled: list[CompiledPolicy], subject: Subject, key: tuple[Any, ...]
    ) -> tuple[tuple[CompiledPolicy, ...], tuple[Any, ...], frozenset[str]]:
        """The policies that judge the subjects of ``key`` (``Target.selection_key``), their
        programs, and the variables these read."""
        own = tuple(c for c in compiled if c.target.select(c.match, subject))
        needed = frozenset().union(*(c.reads for c in own))
        if len(self._chosen) >= 4096:  # (kinds times sets of policies: a handful, as a rule)
            self._chosen.clear()
        chosen = self._chosen[key] = (own, tuple(c.program for c in own), needed)
        return chosen

    @staticmethod
    def _apply(
        c: CompiledPolicy,
        subject: Subject,
        outcome: Any,
        result: Evaluation,
        texts: dict[str, str],
    ) -> None:
        """Record what one condition gave on one subject (something: ``_judge`` skips false, null
        and empty results): its findings, or why it could not be evaluated."""
        policy = c.policy
        error = outcome if isinstance(outcome, celx.CELEvalError) else None
        if error is None:
            try:
                found = celx.violations(outcome)  # raises on a result of the wrong shape
                # A placeholder is filled from the violation, else from the subject's scalar
                # variables (name, kind, ...): looked up per placeholder, not copied per finding.
                scalars = _Scalars(subject.variables)
                # (what every finding of this policy on this subject shares, looked up once:
                # this loop runs once per finding, by the hundred thousand on large scans)
                policy_id, severity, enforcement, title = (
                    policy.id, policy.severity, policy.enforcement, policy.title
                )  # fmt: skip
                path, resource, subject_line = subject.path, subject.resource, subject.line
                render, add = c.message.render, result.findings.append
                for violation in found:
                    line = subject_line
                    field_path = violation.get("path")
                    if isinstance(field_path, str) and field_path:
                        line = subject.locate(field_path) or line
                    text = render(violation, scalars)
                    text = texts.setdefault(text, text)
                    add(
                        Finding(policy_id, severity, enforcement, path, line, text, resource, title)
                    )
            except celx.CELEvalError as exc:  # a result of the wrong shape, a placeholder unfilled
                error = exc
        if error is not None:
            where = f" on {subject.resource}" if subject.resource else ""
            result.errors.append(
                EvalError(
                    f"evaluation failed{where}: {error}",
                    path=subject.path or None,
                    line=subject.line,
                    policy=policy.id,
                )
            )


class _Scalars:
    """A subject's variables as message placeholders see them: scalars only (a list or a map
    has no one-line text, so ``{containers}`` is an error unless the violation names it)."""

    __slots__ = ("_variables",)

    def __init__(self, variables: dict[str, Any]) -> None:
        self._variables = variables

    def get(self, key: str, default: Any) -> Any:
        value = self._variables.get(key, default)
        return value if value is default or _is_scalar(value) else default


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))
