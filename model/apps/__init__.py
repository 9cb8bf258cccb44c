"""Applications as data.

An application is a set of services; a service has a port and one or more
versions; a version is one Deployment. The builders turn these into Kubernetes
objects and the routing builders into Istio objects, so a second application is a
second definition (a module here), not a second code path.
"""
from typing import Mapping

from model.apps.bms import bms
from model.apps.bookinfo import bookinfo
from model.apps.types import (  # noqa: F401
    BUILDER_CONTAINER_FIELDS,
    SERVICE_ACCOUNT,
    Application,
    IngressRoute,
    ScratchVolume,
    SecretKey,
    Service,
    SpringBoot,
    Store,
    Version,
    service_namespace,
)

BOOKINFO = bookinfo()
BMS = bms()

APPLICATIONS: Mapping[str, Application] = {BOOKINFO.name: BOOKINFO, BMS.name: BMS}
"""Every application the project can deploy, by the name stack config uses."""
