"""What a rule reports: one finding about one object, with the project's code and the
istioctl / Kiali code it corresponds to."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"
INFO = "info"
LEVELS = (ERROR, WARNING, INFO)


@dataclass(frozen=True)
class Finding:
    level: str
    code: str
    kind: str
    namespace: str
    name: str
    message: str
    istio: str = ""
    """The istioctl analyze code (ISTnnnn) this finding corresponds to, if any."""
    kiali: str = ""
    """The Kiali validation code (KIAnnnn) it corresponds to, if any."""
    file: str = ""
    """The manifest file the object was read from ('' for a rendered stack)."""
    line: int | None = None
    """The 1-based line of the object's `kind:` in `file`."""

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        if self.file:  # after the object, as istioctl analyze prints it
            where += f" ({self.file}:{self.line})" if self.line else f" ({self.file})"
        return f"{self.level} [{self.code}] {self.kind} {where}: {self.message}"

    def as_json(self) -> dict:
        shown = {"level": self.level, "code": self.code, "istio": self.istio, "kiali": self.kiali,
                 "kind": self.kind, "namespace": self.namespace, "name": self.name, "message": self.message}
        if self.file:
            shown["file"] = self.file
            if self.line:
                shown["line"] = self.line
        return shown


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == ERROR]
