"""Stack settings: the `bookinfo-mesh:*` config of one stack, parsed once and
validated before anything is registered.

The same parser serves the Pulumi program (config handed over by the engine) and
`meshplan` (config read from a `Pulumi.<stack>.yaml` file), so a typo or a bad weight
is refused identically in both, with one line naming the file, the key path, the
value and what is allowed.

By job: `types` (the frozen settings), `environments` (presets), `reader` (the config
cursor and the table of every key it accepts, `CONFIG_KEYS`), `parse` and the
`parse_*` modules it calls (the parsers) and `sources` (stack file, engine config);
the allowed values and shapes are `model.vocabulary`'s. Import from here.
"""
from model.names import PROJECT, service_fqdn  # noqa: F401
from model.vocabulary import (  # noqa: F401
    ISTIO_CHART_REPOSITORY,
    DEFAULT_ISTIO_VERSION,
    OUTBOUND_POLICIES,
    MTLS_MODES,
    AUTHORIZATION_MODES,
    LOAD_BALANCERS,
    RESOLUTIONS,
    PORT_PROTOCOLS,
    RETRY_CONDITIONS,
    SERVICE_TYPES,
    MATCH_KINDS,
    MAX_WEIGHT,
    DATA_PLANES,
    ISTIO_PLATFORMS,
    TRAFFIC_APIS,
    GATEWAY_API_VERSION,
    GATEWAY_API_CHANNELS,
)
from model.settings.types import (  # noqa: F401
    ResourceRequirements,
    IstioSettings,
    HeaderMatch,
    RequestMatch,
    Destination,
    Delay,
    Abort,
    Fault,
    Retries,
    Mirror,
    Route,
    TrafficPolicy,
    ServiceSettings,
    AppSettings,
    StoreSettings,
    IngressTls,
    IngressSettings,
    SecuritySettings,
    ExternalPort,
    TlsOrigination,
    ExternalService,
    EgressSettings,
    RolloutSettings,
    GatewayApiSettings,
    Settings,
    SECRET_NOT_SET_SHOWN,
)
from model.settings.environments import (  # noqa: F401
    Environment,
    DEFAULT_ENVIRONMENT,
    ENVIRONMENTS,
)
from model.settings.reader import CONFIG_KEYS  # noqa: F401
from model.settings.parse_edges import (  # noqa: F401
    OBSERVABILITY_ADDONS,
    external_service_name,
    application_external_service,
)
from model.settings.parse import (  # noqa: F401
    SECRET_KEYS,
    TOP_LEVEL_KEYS,
    parse_settings,
    secret_not_set,
)
from model.settings.sources import (  # noqa: F401
    SECRET_SHOWN,
    SecretValue,
    read_stack_file,
    read_stack_config,
    from_engine_config,
    load_stack_file,
)
