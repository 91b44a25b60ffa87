"""Register trained checkpoints (ml/weights/<method>/...) as model versions; idempotent."""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from editing import engine, services
from editing.models import ModelVersion


def checkpoint_dirs(weights_dir: Path):
    """(method, name, directory) for every `<method>/manifest.json` or `<method>/<name>/manifest.json`."""
    for manifest in sorted(weights_dir.glob("*/manifest.json")) + sorted(weights_dir.glob("*/*/manifest.json")):
        directory = manifest.parent
        method = directory.name if directory.parent == weights_dir else directory.parent.name
        name = "starter" if directory.parent == weights_dir else directory.name
        if engine.method_exists(method):
            yield method, name, directory


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--weights-dir", default=str(settings.FACELAB_WEIGHTS_DIR))
        parser.add_argument("--demo", action="store_true",
                            help="for methods with no checkpoint, register an untrained tiny model so the editor runs")

    def handle(self, *args, weights_dir, demo, **options):
        weights_dir = Path(weights_dir)
        for method, name, directory in checkpoint_dirs(weights_dir):
            try:
                checkpoint = directory.relative_to(settings.BASE_DIR)
            except ValueError:
                checkpoint = directory
            result = services.register_model_version(method, name, str(checkpoint))
            self.stdout.write(f"{'registered' if result.created else 'updated'} {result.version}")
        if demo:
            for method in (m["name"] for m in engine.available_methods()):
                if not ModelVersion.objects.filter(method=method).exists():
                    directory = settings.VAR_DIR / "demo-models" / method
                    engine.write_untrained_checkpoint(method, directory)
                    version = services.register_model_version(method, "untrained-demo", str(directory)).version
                    self.stdout.write(f"registered {version} (untrained: edits will look like noise)")
