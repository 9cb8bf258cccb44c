"""Parsing the edges of the mesh: `ingress`, `security` and `egress`."""
from __future__ import annotations

from typing import Any, Mapping


from model.apps import Service, service_namespace
from model.settings.environments import Environment
from model.settings.parse_services import _load_balancer
from model.settings.reader import Cursor, _Reader, _get
from model.settings.types import AppSettings, EgressSettings, ExternalPort, ExternalService, IngressSettings, IngressTls, IstioSettings, SecretValue, SecuritySettings, ServiceSettings, TlsOrigination
from model.vocabulary import AUTHORIZATION_MODES, MTLS_MODES, PORT_PROTOCOLS, RESOLUTIONS, DNS_LABEL_RE as _DNS_LABEL_RE, EXTERNAL_HOST_RE as _EXTERNAL_HOST_RE, HOST_RE as _HOST_RE
from model.names import service_fqdn


OBSERVABILITY_ADDONS = ("kiali", "tracing")


_HOST = "host name (DNS labels of at most 63 characters, 253 in all)"

def _parse_ingress(ingress: Cursor, istio: IstioSettings) -> IngressSettings:
    exposed = ingress["observability"].mapping(OBSERVABILITY_ADDONS)
    observability = {addon: exposed[addon].string(pattern=_HOST_RE, what=f"a {_HOST}") for addon in exposed.keys()}
    if "kiali" in observability and not istio.kiali:
        raise exposed["kiali"].fail("Kiali is not installed; set istio.addons.kiali: true")
    return IngressSettings(
        hosts=ingress.get("hosts", ("*",), lambda c: c.strings(pattern=_HOST_RE, what=f"a {_HOST} or '*'")),
        observability=observability,
        tls=ingress.get("tls", None, _ingress_tls),
    )


def _ingress_tls(at: Cursor) -> IngressTls:
    tls = at.mapping(("credentialName", "httpsRedirect", "certificate", "privateKey"))
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
        credential_name=tls["credentialName"].string(pattern=_DNS_LABEL_RE, what="a Secret name"),
        https_redirect=tls.get("httpsRedirect", True, Cursor.boolean),
        certificate=tls["certificate"].raw,
        private_key=tls["privateKey"].raw,
    )


_SECURITY_KEYS = ("mtlsMode", "istioMutual", "authorization")


def _parse_security(security: Cursor, env: Environment) -> SecuritySettings:
    return SecuritySettings(
        mtls_mode=security.get("mtlsMode", env.mtls_mode, lambda c: c.string(choices=MTLS_MODES)),
        istio_mutual=security.get("istioMutual", env.istio_mutual, Cursor.boolean),
        authorization=security.get("authorization", env.authorization,
                                   lambda c: c.string(choices=AUTHORIZATION_MODES)),
    )


_EXTERNAL_KEYS = ("name", "host", "ports", "resolution", "tlsOrigination", "loadBalancer", "egressGateway")


def _parse_egress(r: _Reader, raw: dict, istio: IstioSettings, app: AppSettings,
                  stack_services: Mapping[str, ServiceSettings], p: str) -> EgressSettings:
    """The external hosts the stack lists under `egress`, then the services the
    application itself marks external: one list, so names and hosts stay unique
    across both and each Istio object is built once."""
    gateway_missing = istio.install and not istio.egress_gateway
    raw_services = raw.get("externalServices", [])
    ep_list = f"{p}egress.externalServices"
    if not isinstance(raw_services, list):
        raise r.fail(ep_list, "expected a list of external services", raw_services)
    services: list[ExternalService] = []
    for i, item in enumerate(raw_services):
        ep = f"{ep_list}[{i}]"
        service = _external_service(r, r.mapping(item, ep, _EXTERNAL_KEYS), ep)
        _refuse_clash(r, service, services, ep)
        if service.egress_gateway_port is not None and gateway_missing:
            raise r.fail(f"{ep}.egressGateway",
                         "needs the egress gateway installed: set istio.egressGateway.enabled: true")
        services.append(service)
    listed = len(services)
    application = app.application
    external = [name for name in stack_services if application.service(name).external]
    if external and gateway_missing:
        raise r.fail(f"{p}istio.egressGateway.enabled",
                     f"{application.name} reaches {', '.join(external)} through the egress gateway; set it to true",
                     istio.egress_gateway)
    for name in external:
        service = application_external_service(application.service(name), app.namespace)
        clash = _clash(service, services[:listed])
        if clash is not None:
            index, field_name = clash
            raise r.fail(f"{ep_list}[{index}].{field_name}",
                         f"{application.name} already uses it for its external service {name}",
                         getattr(service, field_name))
        services.append(service)
    return EgressSettings(services=tuple(services))


def _clash(service: ExternalService, earlier: list[ExternalService]) -> tuple[int, str] | None:
    """Where `service` repeats the name or host of an earlier one: (index, field)."""
    for index, other in enumerate(earlier):
        for field_name in ("name", "host"):
            if getattr(service, field_name) == getattr(other, field_name):
                return index, field_name
    return None


def _refuse_clash(r: _Reader, service: ExternalService, earlier: list[ExternalService], ep: str) -> None:
    clash = _clash(service, earlier)
    if clash is not None:
        field_name = clash[1]
        message = "used twice; names must be unique" if field_name == "name" else "listed twice"
        raise r.fail(f"{ep}.{field_name}", message, getattr(service, field_name))


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


def _external_ports(r: _Reader, value: Any, path: str) -> list[ExternalPort]:
    if not isinstance(value, list) or not value:
        raise r.fail(path, "expected a non-empty list of {number, name, protocol}", value)
    ports: list[ExternalPort] = []
    for i, item in enumerate(value):
        pp = f"{path}[{i}]"
        port_raw = r.mapping(item, pp, ("number", "name", "protocol"))
        for key in ("number", "protocol"):
            if key not in port_raw:
                raise r.fail(f"{pp}.{key}", "required")
        protocol = r.string(port_raw["protocol"], f"{pp}.protocol", choices=PORT_PROTOCOLS)
        port = ExternalPort(
            number=r.integer(port_raw["number"], f"{pp}.number", minimum=1, maximum=65535),
            name=_get(port_raw, "name", protocol.lower(),
                      lambda v: r.string(v, f"{pp}.name", pattern=_DNS_LABEL_RE, what="a port name")),
            protocol=protocol,
        )
        if any(port.number == other.number for other in ports):
            raise r.fail(f"{pp}.number", "listed twice", port.number)
        ports.append(port)
    return ports


def _external_service(r: _Reader, raw: dict, ep: str) -> ExternalService:
    if "host" not in raw:
        raise r.fail(f"{ep}.host", "required (the external host name, e.g. www.googleapis.com)")
    host = r.string(raw["host"], f"{ep}.host", pattern=_EXTERNAL_HOST_RE, what=f"a fully qualified {_HOST}")
    name = _get(raw, "name", host.replace(".", "-")[:63],
                lambda v: r.string(v, f"{ep}.name", pattern=_DNS_LABEL_RE, what="a DNS label"))
    if "ports" not in raw:
        raise r.fail(f"{ep}.ports", "required (a list of {number, name, protocol})")
    ports = _external_ports(r, raw["ports"], f"{ep}.ports")

    def port_of(value: Any, path: str, protocols: tuple[str, ...]) -> ExternalPort:
        number = r.integer(value, path, minimum=1, maximum=65535)
        for port in ports:
            if port.number == number:
                if port.protocol not in protocols:
                    raise r.fail(path, f"port {number} is {port.protocol}; expected {' or '.join(protocols)}", value)
                return port
        raise r.fail(path, f"not one of this service's ports ({', '.join(str(q.number) for q in ports)})", value)

    origination = None
    if "tlsOrigination" in raw:
        tp = f"{ep}.tlsOrigination"
        t = r.mapping(raw["tlsOrigination"], tp, ("port", "fromPort"))
        if "port" not in t:
            raise r.fail(f"{tp}.port", "required (the external TLS port, e.g. 443)")
        origination = TlsOrigination(
            port=port_of(t["port"], f"{tp}.port", ("HTTPS", "TLS")).number,
            from_port=_get(t, "fromPort", None, lambda v: port_of(v, f"{tp}.fromPort", ("HTTP",)).number),
        )
    gateway_port = None
    if "egressGateway" in raw:
        gp = f"{ep}.egressGateway"
        g = r.mapping(raw["egressGateway"], gp, ("port",))
        if "port" not in g:
            raise r.fail(f"{gp}.port", "required (the service port whose traffic leaves through the gateway)")
        gateway_port = port_of(g["port"], f"{gp}.port", ("HTTP", "HTTPS", "TLS"))
        if origination is not None:
            raise r.fail(gp, "TLS origination at the egress gateway is not supported; use one or the other")
    return ExternalService(
        name=name,
        host=host,
        ports=tuple(ports),
        resolution=_get(raw, "resolution", "DNS", lambda v: r.string(v, f"{ep}.resolution", choices=RESOLUTIONS)),
        tls_origination=origination,
        load_balancer=_get(raw, "loadBalancer", None, lambda v: _load_balancer(r, v, f"{ep}.loadBalancer")),
        egress_gateway_port=gateway_port,
    )
