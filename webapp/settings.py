"""FaceLab settings: everything comes from environment variables, with an embedded default.

With no variables set the app runs on a bare machine: SQLite, an in-memory channel layer and
rendering inside the web process. DATABASE_URL switches to PostgreSQL; REDIS_URL switches the
channel layer, the cache and the Celery broker to Redis, and previews to Celery workers.
"""
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default)
    if value not in ("True", "False"):
        raise ValueError(f"{name} must be True or False, not {value!r}")
    return value == "True"


def envint(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEBUG = envbool("FACELAB_DEBUG", "True")
SECRET_KEY = os.environ.get("SECRET_KEY", "facelab-embedded-default-not-for-production")
if not DEBUG and SECRET_KEY.startswith("facelab-embedded-default"):
    raise ValueError("set SECRET_KEY when FACELAB_DEBUG=False")
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

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
    "channels",
    "editing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.urls"
ASGI_APPLICATION = "webapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data --------------------------------------------------------------------------------
VAR_DIR = Path(os.environ.get("FACELAB_VAR_DIR", BASE_DIR / "var"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("FACELAB_DB_CONN_MAX_AGE", 60))
    if DATABASE_URL
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "db.sqlite3"}
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Small capacity and expiry: a stale preview frame is worth dropping, not queueing.
            # redis-py 8 reads with a 5 s socket timeout by default, the same as channels-redis's
            # blocking pop: under load the read timed out first and killed the consumer.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}], "capacity": 100, "expiry": 10,
                       "prefix": os.environ.get("FACELAB_CHANNEL_PREFIX", "facelab")},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# "celery": previews and training run on Celery workers; "inprocess": inside the web process.
FACELAB_RENDER_MODE = os.environ.get("FACELAB_RENDER_MODE", "celery" if REDIS_URL else "inprocess")
if FACELAB_RENDER_MODE not in ("celery", "inprocess"):
    raise ValueError("FACELAB_RENDER_MODE must be celery or inprocess")

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = FACELAB_RENDER_MODE == "inprocess"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_DEFAULT_QUEUE = "preview"
# A deployment can give a pool of GPUs its own preview queue.
FACELAB_PREVIEW_QUEUE = os.environ.get("FACELAB_PREVIEW_QUEUE", "preview")
CELERY_TASK_ROUTES = {
    "editing.tasks.preview_*": {"queue": FACELAB_PREVIEW_QUEUE},
    "editing.tasks.encode_*": {"queue": "encode"},
    "editing.tasks.training_*": {"queue": "training"},
}
# Redis redelivers an unacked task after the visibility timeout: it must outlast the longest
# gap between training checkpoints, or a run would start twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("FACELAB_TRAINING_VISIBILITY_TIMEOUT", 6 * 3600)}

# --- Auth, API -----------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated request then gets 401 with WWW-Authenticate, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FaceLab API",
    "DESCRIPTION": "Photos, exemplars, model versions and edit recipes of the FaceLab face editor.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page works offline: Swagger UI is served from our own static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Static and media ----------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("FACELAB_MEDIA_ROOT", VAR_DIR / "media"))

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Machine learning ----------------------------------------------------------------------
# Threads for torch in this process; workers sharing a machine should split the cores.
FACELAB_TORCH_THREADS = envint("FACELAB_TORCH_THREADS", 0) or None
# "auto": bf16 autocast where the CPU or GPU has it in hardware (AMX), else float32
FACELAB_RENDER_PRECISION = os.environ.get("FACELAB_RENDER_PRECISION", "auto")  # or "bf16", "fp32"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("FACELAB_LOG_LEVEL", "INFO").upper()},
}
# A render task reads the newest request when it starts, so a late task is harmless; the limit only
# clears out tasks queued behind a worker that died.
FACELAB_PREVIEW_EXPIRES = envint("FACELAB_PREVIEW_EXPIRES", 30)

# --- Uploads, previews, caches ---------------------------------------------------------------
FACELAB_UPLOAD_MAX_BYTES = envint("FACELAB_UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
FACELAB_UPLOAD_MAX_PIXELS = envint("FACELAB_UPLOAD_MAX_PIXELS", 40_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = FACELAB_UPLOAD_MAX_BYTES + 1024 * 1024
FACELAB_RETENTION_DAYS = envint("FACELAB_RETENTION_DAYS", 30)  # unviewed uploads are deleted after this
FACELAB_PREVIEW_JPEG_QUALITY = envint("FACELAB_PREVIEW_JPEG_QUALITY", 80)
FACELAB_PREVIEW_STALL_SECONDS = envint("FACELAB_PREVIEW_STALL_SECONDS", 8)
FACELAB_PREVIEW_MAX_PER_SECOND = envint("FACELAB_PREVIEW_MAX_PER_SECOND", 120)  # per user, all tabs
FACELAB_LATENT_CACHE_SIZE = envint("FACELAB_LATENT_CACHE_SIZE", 64)
FACELAB_LATENT_TTL = envint("FACELAB_LATENT_TTL", 24 * 3600)
FACELAB_WEIGHTS_DIR = Path(os.environ.get("FACELAB_WEIGHTS_DIR", BASE_DIR / "ml" / "weights"))
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "uploads": os.environ.get("FACELAB_UPLOAD_RATE", "60/hour"),
    "renders": os.environ.get("FACELAB_RENDER_RATE", "600/hour"),
}
