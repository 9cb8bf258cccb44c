"""The application's security: mTLS (PeerAuthentication), least-privilege
authorization (AuthorizationPolicies) and the ingress gateway's TLS Secret, whose
certificate and key stay Pulumi secrets from config to state."""
from __future__ import annotations

import pulumi

from model.names import component_type

from components.args import StackArgs
from components.kubernetes import child_options, logical_name, register, register_all
from model.security import ingress_tls_secret, security_objects


class Security(pulumi.ComponentResource):
    """Who may talk to whom inside the application, and over what."""

    objects: list[dict]
    """The object bodies registered (the TLS Secret aside), for the program's checks."""

    policies: pulumi.Output[list]
    """Names of the PeerAuthentication and AuthorizationPolicy objects, in order."""

    def __init__(self, name: str, args: StackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(component_type("security", "Security"), name, None, opts)
        objects = security_objects(args.settings)
        self.objects = objects
        register_all(self, name, objects, opts)
        secret = ingress_tls_secret(args.settings)
        if secret is not None:
            tls = args.settings.ingress.tls
            # Wrapped as a secret Output: encrypted in state, masked in every preview.
            secret["stringData"] = pulumi.Output.secret({"tls.crt": tls.certificate, "tls.key": tls.private_key})
            register(logical_name(name, secret), secret, child_options(self, opts))
        self.policies = pulumi.Output.from_input(
            [f"{body['kind']}/{body['metadata']['name']}" for body in objects]
        )
        self.register_outputs({"policies": self.policies})
