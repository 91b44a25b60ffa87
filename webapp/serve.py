"""`python -m webapp.serve`: migrate, then serve HTTP, WebSockets and the Gradio admin with uvicorn.

With no environment variables this is the embedded default (SQLite, in-memory channel layer,
in-process rendering); DATABASE_URL and REDIS_URL switch to the full stack.
"""
import argparse
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")


def prepare_content(call_command) -> None:
    """Model versions from ml/weights (an untrained demo where a method has none) and the gallery."""
    import logging

    call_command("register_models", demo=os.environ.get("FACELAB_DEMO_MODELS", "True") == "True")
    try:
        call_command("seed_exemplars")
    except ImportError as error:  # the synthetic world is optional for serving
        logging.getLogger(__name__).warning("exemplar gallery not seeded: %s", error)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Run the FaceLab web app")
    parser.add_argument("--host", default=os.environ.get("FACELAB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("FACELAB_PORT", 8000)))
    parser.add_argument("--no-migrate", action="store_true", help="skip applying database migrations")
    parser.add_argument("--no-setup", action="store_true",
                        help="skip registering model checkpoints and seeding the exemplar gallery")
    args = parser.parse_args(argv)

    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    if not args.no_migrate:
        call_command("migrate", interactive=False, verbosity=0)
    if not args.no_setup:
        prepare_content(call_command)

    import uvicorn

    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    announcement = (f"FaceLab is running at http://{args.host}:{args.port}/  "
                    f"(database: {database}, previews: {settings.FACELAB_RENDER_MODE})")

    class AnnouncingServer(uvicorn.Server):
        """Prints the URL once the app answers, not before (start-up imports take seconds)."""

        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:
                print(announcement, flush=True)

    config = uvicorn.Config("webapp.asgi:application", host=args.host, port=args.port, lifespan="on",
                            log_level=os.environ.get("FACELAB_LOG_LEVEL", "info").lower())
    AnnouncingServer(config).run()


if __name__ == "__main__":
    main()
