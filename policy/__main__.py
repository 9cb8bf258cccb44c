"""The CrossGuard pack: `pulumi preview --policy-pack ./policy`. Only assembles the
policies of `bookinfo_policies` (constructing the pack starts the analyzer server)."""
import sys
from pathlib import Path

# The rules live in the project's model package, one directory up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from bookinfo_policies import POLICIES  # noqa: E402

PolicyPack(name="bookinfo-mesh", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
