"""What the program that builds and deploys an image and the scoring server inside it agree on:
the port, the routes, the environment variables, the files of keys and tokens, and the labels
and annotations tools find a service's containers and pods by.

Both sides import this one module: the program (components/) at plan time, and the server or
the front of azmlinfsrv in the image, which carries it with the rest of the package. So it
imports nothing at all, and holds names and numbers only.
"""

# --- the port and the routes (Azure ML's) -------------------------------------------------------

PORT = 5001
# GET or HEAD answers 200 once init() has run: the liveness and readiness probes' route, and the
# only one open without a key or token.
HEALTH_ROUTE = "/"
SCORE_ROUTE = "/score"
SWAGGER_ROUTE = "/swagger.json"
# Prometheus metrics (modelstack's server only): protected like /score unless METRICS_AUTH_ENV is "false".
METRICS_ROUTE = "/metrics"
# On every response of modelstack's server: the rollout version that answered (ROLLOUT_VERSION_ENV).
VERSION_HEADER = "x-modelstack-version"

# The image's user (azureml), whom the platform runs the container as.
IMAGE_USER_ID = 1000

# --- azmlinfsrv's environment variables, which the image and the platform set ---------------------

APP_ROOT_ENV = "AML_APP_ROOT"
SOURCE_DIR_ENV = "AZUREML_SOURCE_DIRECTORY"
ENTRY_SCRIPT_ENV = "AZUREML_ENTRY_SCRIPT"
MODEL_DIR_ENV = "AZUREML_MODEL_DIR"
# azmlinfsrv sets it for the script: the liveness probe's port (the scoring port: no separate listener)
HEALTH_PORT_ENV = "HEALTH_PORT"
SERVICE_NAME_ENV = "SERVICE_NAME"
SERVICE_VERSION_ENV = "SERVICE_VERSION"
SERVICE_PATH_PREFIX_ENV = "SERVICE_PATH_PREFIX"
SCORING_TIMEOUT_ENV = "SCORING_TIMEOUT_MS"
WORKER_COUNT_ENV = "WORKER_COUNT"

# --- modelstack's environment variables: auth, CORS, limits, TLS, telemetry -------------------

AUTH_ENABLED_ENV = "MODELSTACK_AUTH_ENABLED"
PRIMARY_KEY_ENV = "MODELSTACK_PRIMARY_KEY"
SECONDARY_KEY_ENV = "MODELSTACK_SECONDARY_KEY"
# A folder holding the key files below (a mounted Kubernetes Secret), read again when they change.
KEYS_DIR_ENV = "MODELSTACK_KEYS_DIR"
TOKEN_AUTH_ENABLED_ENV = "MODELSTACK_TOKEN_AUTH_ENABLED"
TOKEN_SIGNING_KEY_ENV = "MODELSTACK_TOKEN_SIGNING_KEY"
# The service's name: the audience a token must be issued for.
TOKEN_AUDIENCE_ENV = "MODELSTACK_TOKEN_AUDIENCE"
CORS_ORIGINS_ENV = "MODELSTACK_CORS_ORIGINS"
MAX_REQUEST_BYTES_ENV = "MODELSTACK_MAX_REQUEST_BYTES"
TLS_CERT_ENV = "MODELSTACK_TLS_CERT"
TLS_KEY_ENV = "MODELSTACK_TLS_KEY"
# The rollout version this container serves (a Kubernetes rollout's version_name); unset, the
# service's name (SERVICE_NAME), else "default". Named by every response (VERSION_HEADER), access-log
# line, App Insights record and metric.
ROLLOUT_VERSION_ENV = "MODELSTACK_VERSION"
# Prometheus metrics at METRICS_ROUTE: "false" turns them off (the route then answers 404).
METRICS_ENABLED_ENV = "MODELSTACK_METRICS_ENABLED"
# "false" (the stack's `metrics_auth: false`) serves METRICS_ROUTE without a key or token.
METRICS_AUTH_ENV = "MODELSTACK_METRICS_AUTH"
# enable_app_insights: the Application Insights connection string (a secret) the server sends to.
APP_INSIGHTS_CONNECTION_STRING_ENV = "MODELSTACK_APP_INSIGHTS_CONNECTION_STRING"
# Variables that hold secrets: the server takes them out of its environment once read.
SECRET_ENVS = (
    PRIMARY_KEY_ENV,
    SECONDARY_KEY_ENV,
    TOKEN_SIGNING_KEY_ENV,
    APP_INSIGHTS_CONNECTION_STRING_ENV,
    TLS_CERT_ENV,
    TLS_KEY_ENV,
)

# --- the files of the keys folder (KEYS_DIR_ENV), as the platform's Secret names them ------------

# Where the platform mounts the keys folder on Kubernetes.
KEYS_MOUNT = "/var/run/modelstack/keys"
PRIMARY_KEY_FILE = "primary_key"
SECONDARY_KEY_FILE = "secondary_key"
KEY_FILES = (PRIMARY_KEY_FILE, SECONDARY_KEY_FILE)
TOKEN_KEY_FILE = "token_signing_key"
# The Secret's entry the connection string comes from (as an environment variable, not a file).
APP_INSIGHTS_SECRET_KEY = "app_insights_connection_string"

# --- tokens: what `modelstack token` issues and the server accepts -------------------------------

TOKEN_ISSUER = "modelstack"
TOKEN_ALGORITHM = "HS256"

# --- stopping: requests in flight finish within the scoring timeout and this margin ---------------

DRAIN_MARGIN_SECONDS = 5

# --- labels and annotations tools find a service's images, containers and pods by ----------------

# Docker (local images and containers)
IMAGE_SERVICE_LABEL = "modelstack.service"
IMAGE_CONTEXT_DIGEST_LABEL = "modelstack.context-digest"
CONTAINER_SERVICE_LABEL = "modelstack.service"
CONTAINER_STACK_LABEL = "modelstack.stack"
# Kubernetes (a webservice's Deployments, pods and Services)
K8S_SERVICE_LABEL = "app.kubernetes.io/name"
K8S_WORKLOAD_LABEL = "modelstack.io/workload"
K8S_VERSION_LABEL = "modelstack.io/version"
K8S_VERSION_TYPE_LABEL = "modelstack.io/version-type"
K8S_MODEL_VERSIONS_ANNOTATION = "modelstack.io/model-versions"
K8S_AZUREML_METADATA_ANNOTATION = "modelstack.io/azureml-metadata"
