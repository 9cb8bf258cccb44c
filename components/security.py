"""The application's security: mTLS (PeerAuthentication), least-privilege
authorization (AuthorizationPolicies) and the ingress gateway's TLS Secret, whose
certificate and key stay Pulumi secrets from config to state."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi

from model.names import component_type

from components.args import StackArgs
from components.kubernetes import child_options, logical_name, register, register_all
from model.security import ingress_tls_secret, security_objects


@dataclass(frozen=True, kw_only=True)
class SecurityArgs(StackArgs):
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """The secret leaves by config key path, as the config edge read them
    (components/config.py `load_secrets`): the TLS certificate and key, when set."""


class Security(pulumi.ComponentResource):
    """Who may talk to whom inside the application, and over what."""

    objects: list[dict]
    """The object bodies registered (the TLS Secret aside), for the program's checks."""

    policies: pulumi.Output[list]
    """Names of the PeerAuthentication and AuthorizationPolicy objects, in order."""

    def __init__(self, name: str, args: SecurityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(component_type("security", "Security"), name, None, opts)
        objects = security_objects(args.settings)
        self.objects = objects
        register_all(self, name, objects, opts)
        secret = ingress_tls_secret(args.settings)
        if secret is not None:
            # Built from the secret Outputs the config edge read, so it is itself a
            # secret: encrypted in state, masked in every preview.
            secret["stringData"] = pulumi.Output.all(
                args.secrets["ingress.tls.certificate"], args.secrets["ingress.tls.privateKey"],
            ).apply(lambda pem: {"tls.crt": pem[0], "tls.key": pem[1]})
            register(logical_name(name, secret), secret, child_options(self, opts))
        self.policies = pulumi.Output.from_input(
            [f"{body['kind']}/{body['metadata']['name']}" for body in objects]
        )
        self.register_outputs({"policies": self.policies})
