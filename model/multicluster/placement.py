"""Which versions run in which cluster (`app.placement`): a cluster's settings are
the stack's with each service's versions narrowed to those placed there. Every
Service stays in every cluster: a client resolves a host through its own cluster's
DNS, even when the pods serving it run elsewhere."""
from __future__ import annotations

import dataclasses

from model.settings import Settings


def settings_in_cluster(settings: Settings, cluster: str) -> Settings:
    mc = settings.multicluster
    services = {name: dataclasses.replace(service, versions=tuple(
                    v for v in service.versions if cluster in mc.clusters_running(name, v)))
                for name, service in settings.services.items()}
    return dataclasses.replace(settings, services=services)
