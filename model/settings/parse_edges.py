"""Parsing the edges of the mesh: `ingress`, `security` and `egress`."""
from __future__ import annotations

from typing import Mapping

from model.apps import Service, service_namespace
from model.names import service_fqdn
from model.settings.environments import Environment
from model.settings.parse_traffic_policy import parse_load_balancer
from model.settings.reader import Cursor, Keys
from model.settings.types import (AppSettings, EgressSettings, ExternalPort, ExternalService, IngressSettings,
                                  IngressTls, IstioSettings, SecretValue, SecuritySettings, ServiceSettings,
                                  TlsOrigination)
from model.vocabulary import (AUTHORIZATION_MODES, DNS_LABEL_RE, EXTERNAL_HOST_RE, HOST_RE, MTLS_MODES, PORT_PROTOCOLS,
                              RESOLUTIONS, bounded_label)

OBSERVABILITY_ADDONS = ("kiali", "tracing")

INGRESS_KEYS = Keys("ingress", "hosts", "observability", "tls")
OBSERVABILITY_KEYS = Keys("ingress.observability", *OBSERVABILITY_ADDONS)
TLS_KEYS = Keys("ingress.tls", "credentialName", "httpsRedirect", "certificate", "privateKey")
SECURITY_KEYS = Keys("security", "mtlsMode", "istioMutual", "authorization")
EGRESS_KEYS = Keys("egress", "externalServices")
EXTERNAL_KEYS = Keys("egress.externalServices[]", "name", "host", "ports", "resolution", "tlsOrigination",
                     "loadBalancer", "egressGateway")
PORT_KEYS = Keys("egress.externalServices[].ports[]", "number", "name", "protocol")
ORIGINATION_KEYS = Keys("egress.externalServices[].tlsOrigination", "port", "fromPort")
GATEWAY_KEYS = Keys("egress.externalServices[].egressGateway", "port")

_HOST = "host name (DNS labels of at most 63 characters, 253 in all)"


def parse_ingress(root: Cursor, istio: IstioSettings) -> IngressSettings:
    ingress = root["ingress"].mapping(INGRESS_KEYS)
    exposed = ingress["observability"].mapping(OBSERVABILITY_KEYS)
    observability = {addon: exposed[addon].string(pattern=HOST_RE, what=f"a {_HOST}") for addon in exposed.keys()}
    if "kiali" in observability and not istio.kiali:
        raise exposed["kiali"].fail("Kiali is not installed; set istio.addons.kiali: true")
    return IngressSettings(
        hosts=ingress.get("hosts", ("*",), lambda c: c.strings(pattern=HOST_RE, what=f"a {_HOST} or '*'")),
        observability=observability,
        tls=ingress.get("tls", None, _ingress_tls),
    )


def _ingress_tls(at: Cursor) -> IngressTls:
    tls = at.mapping(TLS_KEYS)
    if "credentialName" not in tls:
        raise tls["credentialName"].fail("required (the TLS Secret the gateway serves)")
    if ("certificate" in tls) != ("privateKey" in tls):
        raise tls["privateKey" if "certificate" in tls else "certificate"].fail(
            "give certificate and privateKey together (both Pulumi secrets), or neither")
    # The PEM texts are never echoed into a message, whatever is wrong with them.
    for key in ("certificate", "privateKey"):
        if key in tls and (not isinstance(tls[key].raw, str) or not tls[key].raw):
            raise tls[key].fail("expected PEM text (set it with pulumi config set --secret)")
    if "privateKey" in tls and not isinstance(tls["privateKey"].raw, SecretValue):
        # Readable in the stack file and in git: refuse it, and never echo it.
        raise tls["privateKey"].fail("holds plaintext; a private key must be a Pulumi secret: set it with "
                                     "`pulumi config set --secret --path ingress.tls.privateKey \"$(cat tls.key)\"`")
    return IngressTls(
        credential_name=tls["credentialName"].string(pattern=DNS_LABEL_RE, what="a Secret name"),
        https_redirect=tls.get("httpsRedirect", True, Cursor.boolean),
        certificate=tls["certificate"].raw,
        private_key=tls["privateKey"].raw,
    )


def parse_security(root: Cursor, env: Environment) -> SecuritySettings:
    security = root["security"].mapping(SECURITY_KEYS)
    return SecuritySettings(
        mtls_mode=security.get("mtlsMode", env.mtls_mode, lambda c: c.string(choices=MTLS_MODES)),
        istio_mutual=security.get("istioMutual", env.istio_mutual, Cursor.boolean),
        authorization=security.get("authorization", env.authorization,
                                   lambda c: c.string(choices=AUTHORIZATION_MODES)),
    )


def parse_egress(root: Cursor, istio: IstioSettings, app: AppSettings,
                 stack_services: Mapping[str, ServiceSettings]) -> EgressSettings:
    """The external hosts the stack lists under `egress`, then the services the
    application itself marks external: one list, so names and hosts stay unique
    across both and each Istio object is built once."""
    gateway_missing = istio.install and not istio.egress_gateway
    listed = root["egress"].mapping(EGRESS_KEYS).get(
        "externalServices", [], lambda c: c.elements(what="a list of external services"))
    services: list[ExternalService] = []
    for item in listed:
        service = _external_service(item.mapping(EXTERNAL_KEYS))
        _refuse_clash(item, service, services)
        if service.egress_gateway_port is not None and gateway_missing:
            raise item["egressGateway"].fail(
                "needs the egress gateway installed: set istio.egressGateway.enabled: true")
        services.append(service)
    application = app.application
    external = [name for name in stack_services if application.service(name).external]
    if external and gateway_missing:
        raise root["istio"]["egressGateway"]["enabled"].fail(
            f"{application.name} reaches {', '.join(external)} through the egress gateway; set it to true",
            istio.egress_gateway)
    for name in external:
        service = application_external_service(application.service(name), app.namespace)
        clash = _clash(service, services[:len(listed)])
        if clash is not None:
            index, field_name = clash
            raise listed[index][field_name].fail(
                f"{application.name} already uses it for its external service {name}", getattr(service, field_name))
        services.append(service)
    return EgressSettings(services=tuple(services))


def _clash(service: ExternalService, earlier: list[ExternalService]) -> tuple[int, str] | None:
    """Where `service` repeats the name or host of an earlier one: (index, field)."""
    for index, other in enumerate(earlier):
        for field_name in ("name", "host"):
            if getattr(service, field_name) == getattr(other, field_name):
                return index, field_name
    return None


def _refuse_clash(at: Cursor, service: ExternalService, earlier: list[ExternalService]) -> None:
    clash = _clash(service, earlier)
    if clash is not None:
        field_name = clash[1]
        message = "used twice; names must be unique" if field_name == "name" else "listed twice"
        raise at[field_name].fail(message, getattr(service, field_name))


def external_service_name(service: str) -> str:
    """`external-payment` for `bookinfo-payment`: the name the ServiceEntry and the
    other egress objects of an application's external service go by."""
    return f"external-{service.rsplit('-', 1)[-1]}"


def application_external_service(svc: Service, app_namespace: str) -> ExternalService:
    """A service the application marks external, as an external host whose HTTP
    port leaves through the egress gateway."""
    port = ExternalPort(number=svc.port, name=svc.port_name, protocol="HTTP")
    return ExternalService(
        name=external_service_name(svc.name),
        host=service_fqdn(svc.name, service_namespace(svc, app_namespace)),
        ports=(port,), resolution="DNS", egress_gateway_port=port,
    )


def _external_ports(at: Cursor) -> list[ExternalPort]:
    ports: list[ExternalPort] = []
    for item in at.elements(what="a non-empty list of {number, name, protocol}", at_least_one=True):
        port_at = item.mapping(PORT_KEYS)
        for key in ("number", "protocol"):
            if key not in port_at:
                raise port_at[key].fail("required")
        protocol = port_at["protocol"].string(choices=PORT_PROTOCOLS)
        port = ExternalPort(
            number=port_at["number"].integer(minimum=1, maximum=65535),
            name=port_at.get("name", protocol.lower(), lambda c: c.string(pattern=DNS_LABEL_RE, what="a port name")),
            protocol=protocol,
        )
        if any(port.number == other.number for other in ports):
            raise port_at["number"].fail("listed twice", port.number)
        ports.append(port)
    return ports


def _external_service(at: Cursor) -> ExternalService:
    if "host" not in at:
        raise at["host"].fail("required (the external host name, e.g. www.googleapis.com)")
    host = at["host"].string(pattern=EXTERNAL_HOST_RE, what=f"a fully qualified {_HOST}")
    # Named after its host unless named: a host's labels joined by '-' can be longer
    # than a label may be, so the default is shortened with a hash of the host.
    name = at.get("name", bounded_label(host.replace(".", "-")),
                  lambda c: c.string(pattern=DNS_LABEL_RE, what="a DNS label"))
    if "ports" not in at:
        raise at["ports"].fail("required (a list of {number, name, protocol})")
    ports = _external_ports(at["ports"])

    def port_of(port_at: Cursor, protocols: tuple[str, ...]) -> ExternalPort:
        number = port_at.integer(minimum=1, maximum=65535)
        for port in ports:
            if port.number == number:
                if port.protocol not in protocols:
                    raise port_at.fail(f"port {number} is {port.protocol}; expected {' or '.join(protocols)}",
                                       port_at.raw)
                return port
        raise port_at.fail(f"not one of this service's ports ({', '.join(str(q.number) for q in ports)})",
                           port_at.raw)

    origination = None
    if "tlsOrigination" in at:
        t = at["tlsOrigination"].mapping(ORIGINATION_KEYS)
        if "port" not in t:
            raise t["port"].fail("required (the external TLS port, e.g. 443)")
        origination = TlsOrigination(
            port=port_of(t["port"], ("HTTPS", "TLS")).number,
            from_port=t.get("fromPort", None, lambda c: port_of(c, ("HTTP",)).number),
        )
    gateway_port = None
    if "egressGateway" in at:
        g = at["egressGateway"].mapping(GATEWAY_KEYS)
        if "port" not in g:
            raise g["port"].fail("required (the service port whose traffic leaves through the gateway)")
        gateway_port = port_of(g["port"], ("HTTP", "HTTPS", "TLS"))
        if origination is not None:
            raise g.fail("TLS origination at the egress gateway is not supported; use one or the other")
    return ExternalService(
        name=name,
        host=host,
        ports=tuple(ports),
        resolution=at.get("resolution", "DNS", lambda c: c.string(choices=RESOLUTIONS)),
        tls_origination=origination,
        load_balancer=at.get("loadBalancer", None, parse_load_balancer),
        egress_gateway_port=gateway_port,
    )
